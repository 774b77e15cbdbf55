// Rows a pass writes once and does not read again (the chunked backward's gradients),
// stored with non-temporal stores where the target has them: the line goes to memory
// without first being read into the cache, as a normal store's write-allocate does. On
// the 2-core Xeon that read was about a tenth of the chunked backward's time (dfw,
// B1 H12 T4096, d = 64: 29.2-29.8 ms before, 26.4-28.4 after, with the gate rows read in
// place). The dispatch is by ISA, not vendor: AVX-512 (64-byte
// stores) or AVX (32-byte), with the destination aligned to the store and the width a
// multiple of it; anything else is stored plainly. A pass that streamed calls
// streamed_rows_done() before other threads may read what it wrote.
#pragma once

#include <cstdint>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace dfw {

// dst[i] = scale * src[i] for i < n; src aligned like the stores (rows of Lanes).
inline void store_row_streaming(float* dst, const float* src, int64_t n, float scale = 1.f) {
  const uintptr_t at = reinterpret_cast<uintptr_t>(dst);
#if defined(__AVX512F__)
  if (at % 64 == 0 && n % 16 == 0) {
    const __m512 s = _mm512_set1_ps(scale);
    for (int64_t i = 0; i < n; i += 16) _mm512_stream_ps(dst + i, _mm512_mul_ps(s, _mm512_load_ps(src + i)));
    return;
  }
#elif defined(__AVX__)
  if (at % 32 == 0 && n % 8 == 0) {
    const __m256 s = _mm256_set1_ps(scale);
    for (int64_t i = 0; i < n; i += 8) _mm256_stream_ps(dst + i, _mm256_mul_ps(s, _mm256_load_ps(src + i)));
    return;
  }
#endif
  (void)at;
  for (int64_t i = 0; i < n; ++i) dst[i] = scale * src[i];
}

// Orders the streamed stores before any later store (x86's sfence): after it, a
// barrier that publishes this thread's writes publishes them too.
inline void streamed_rows_done() {
#if defined(__AVX__)
  _mm_sfence();
#endif
}

}  // namespace dfw
