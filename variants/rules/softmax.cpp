// softmax: exact causal attention, y_t = sum_{j<=t} softmax_j(q_t.k_j / sqrt(dk)) v_j.
// No fast-weight state: its forms (reference, blocked, KV-cache decode) live apart.
#include <stdexcept>

#include "registry.hpp"

namespace dfw {
namespace {

class Softmax final : public RuleOf<Softmax> {
 public:
  std::string name() const override { return "softmax"; }
  std::string description() const override { return "exact causal softmax attention (KV cache)"; }
  bool stateful() const override { return false; }
  bool supports_normalisation() const override { return false; }
  unsigned gate_inputs() const override { return kNoGates; }

  template <class R>
  static void step_impl(R*, int64_t, int64_t, const R*, const R*, const TokenGates<R>&) {
    throw std::logic_error("softmax has no fast-weight state step");
  }
};

const RegisterRule<Softmax> kRegistered;

}  // namespace
}  // namespace dfw
