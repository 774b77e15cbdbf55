#include "check_cases.hpp"

#include <cstdio>

#include "accuracy.hpp"
#include "cli.hpp"

namespace dfw {

std::vector<Variant> select_variants(const std::string& list) {
  std::vector<Variant> out;
  if (list == "all") {
    for (const auto& n : preset_names()) out.push_back(parse_variant(n));
    for (auto& v : all_combinations()) out.push_back(v);
    return out;
  }
  // Spec strings contain commas: split on ';' when present, else on ',' only
  // between items that are not key=value pieces.
  if (list.find(';') != std::string::npos) {
    for (const auto& s : split_list(list, ';')) out.push_back(parse_variant(s));
    return out;
  }
  std::string current;
  for (const auto& item : split_list(list, ',')) {
    if (item.find('=') != std::string::npos && item.rfind("rule=", 0) != 0 && !current.empty()) {
      current += "," + item;
      continue;
    }
    if (!current.empty()) out.push_back(parse_variant(current));
    current = item;
  }
  if (!current.empty()) out.push_back(parse_variant(current));
  return out;
}

std::vector<CheckCase> expand_check_cases(const std::vector<Variant>& variants, bool quick, uint64_t seed,
                                          bool long_sequences) {
  struct S {
    Shape shape;
    bool quick;
  };
  const std::vector<S> shapes = {
      {{1, 1, 1, 16, 16}, true},    // T = 1
      {{1, 3, 7, 16, 8}, true},     // dv != m, odd B*H
      {{3, 1, 97, 32, 24}, false},  // T not a multiple of any chunk
      {{1, 1, 1025, 64, 48}, false},
  };
  const Shape edge{1, 3, 97, 16, 16};
  std::vector<CheckCase> out;
  for (const Variant& v : variants) {
    bool first = true;
    auto add = [&](Shape shape, GeneratorOptions g, Mode mode, std::string label) {
      g.seed = seed;
      out.push_back({v, shape, g, mode, std::move(label), first});
      first = false;
    };
    for (const S& s : shapes)
      if (!quick || s.quick) add(s.shape, {}, Mode::sequence, "uniform");
    if (!v.defined()) continue;
    if (!quick && v.rule->gate_inputs() != kNoGates) {
      for (GateSet g : {GateSet::ones, GateSet::tiny, GateSet::mixed}) {
        GeneratorOptions o;
        o.gates = g;
        add(edge, o, Mode::sequence, gate_set_name(g));
      }
      // Gates near 1 over more tokens than the longest chunk checked (256): the
      // factors between distant tokens stay far above rounding, so a wrong
      // long-range factor shows (with uniform gates they are ~1e-12 past 16 tokens).
      GeneratorOptions o;
      o.gates = GateSet::slow;
      add(Shape{1, 2, 600, 16, 16}, o, Mode::sequence, gate_set_name(GateSet::slow));
    }
    GeneratorOptions with_s0;
    with_s0.with_initial_state = true;
    if (v.rule->stateful()) {
      add(Shape{2, 3, 33, 16, 24}, with_s0, Mode::sequence, "s0");
      add(Shape{2, 3, 1, 16, 24}, with_s0, Mode::decode_step, "decode s0");
    } else {
      add(Shape{2, 3, 33, 16, 24}, {}, Mode::decode_step, "decode T=32");
    }
    if (!long_sequences) continue;
    std::vector<GateSet> sets{GateSet::uniform_init};
    if (v.rule->gate_inputs() != kNoGates) sets.insert(sets.end(), {GateSet::ones, GateSet::tiny, GateSet::mixed});
    for (Shape shape : {Shape{1, 2, 1025, 64, 64}, Shape{1, 1, 4097, 128, 128}})
      for (GateSet g : sets) {
        GeneratorOptions o;
        o.gates = g;
        add(shape, o, Mode::sequence, gate_set_name(g));
      }
  }
  return out;
}

Problem make_check_problem(const CheckCase& c) { return generate_problem(c.variant, c.shape, c.gen); }

Output run_once(const Impl& impl, const Variant& v, const Problem& p, const RunOptions& o) {
  auto prepared = impl.prepare(v, p, o);
  prepared->run();
  prepared->synchronize();
  return prepared->output();
}

void print_softmax_distances(uint64_t seed) {
  const Shape shape{1, 4, 256, 64, 64};
  const Impl& ref = *find_impl("reference", "cpu", "fp64");
  GeneratorOptions g;
  g.seed = seed;
  const Variant softmax = parse_variant("softmax");
  const Output exact = run_once(ref, softmax, generate_problem(softmax, shape, g), {});
  std::vector<std::string> names = preset_names();
  for (const char* m : {"16", "64", "256", "1024", "4096"}) names.push_back(std::string("rule=add,phi=favor,norm=on,m=") + m);
  std::printf("\ndistance to exact softmax (information only; relative L2 of y, %s, same q, k, v):\n",
              shape.str().c_str());
  for (const auto& n : names) {
    const Variant v = parse_variant(n);
    if (v.name == "softmax") continue;
    const Output y = run_once(ref, v, generate_problem(v, shape, g), {});
    std::printf("  %-36s %.3f\n", n.c_str(), compare(y.y, exact.y).rel_l2);
  }
}

}  // namespace dfw
