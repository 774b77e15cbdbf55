"""GPU timing and memory of a peer (scripts/peers.py --backend cuda; HostClock there is
the CPU's, with the same methods), as dfwbench's CudaRunTimer (kernels/cuda_prepared.cpp)
times its CUDA forms: the L2 flushed before each run by zeroing a buffer of twice its
size (at least 8 MiB), the run between two CUDA events, iterated until --min-time of
timed runs per repetition."""
import torch


class CudaClock:
    device, memory_field, free_memory = "cuda", "peak_device_bytes", "the device's free memory"
    tunes_on_first_call = True  # Triton tunes a kernel for each new shape on its first call

    def __init__(self):
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        l2 = getattr(props, "L2_cache_size", 0) or (64 << 20)  # the attribute came with torch 2.x
        self.flush_buffer = torch.empty(max(2 * l2, 8 << 20), dtype=torch.uint8, device="cuda")
        self.start, self.stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        self.base = 0

    def run_time(self, run):
        """Seconds of one run, the L2 flushed before it."""
        self.flush_buffer.zero_()
        self.start.record()
        run()
        self.stop.record()
        self.stop.synchronize()
        return self.start.elapsed_time(self.stop) * 1e-3

    def time_runs(self, run, repetitions, min_time):
        """Per-run times (s) of `repetitions` timings, and no contention measure (0, 0):
        a GPU's repetitions are judged by their spread alone."""
        times = []
        for _ in range(repetitions):
            total, n = 0.0, 0
            while n == 0 or total < min_time:
                total += self.run_time(run)
                n += 1
            times.append(total / n)
        return times, 0.0, 0.0

    @staticmethod
    def free_bytes():
        """The device's free memory and what PyTorch's caching allocator holds unused."""
        return torch.cuda.mem_get_info()[0] + torch.cuda.memory_reserved() - torch.cuda.memory_allocated()

    def start_peak(self):
        """From here, peak() is the caching allocator's peak less what is allocated now."""
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        self.base = torch.cuda.memory_allocated()

    def peak(self):
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - self.base

    @staticmethod
    def release():
        """What the caching allocator holds unused goes back to the device."""
        torch.cuda.empty_cache()
