// A feature map phi: R^dk -> R^m, applied row by row to q and k (docs/MATH.md "Feature maps").
// Adding one is one new file in feature_maps/ and no edit anywhere else: a class
// deriving FeatureMapOf<YourMap> with name(), out_dim(), flops_per_row() and
//   template <class R> static void map(rows, params, out),
// and one registrar line:  const RegisterFeatureMap<YourMap> kRegistered;  (registry.hpp).
// Optionally, for the backward forms (docs/MATH.md "Gradients"), its vector-Jacobian
// product  template <class R> static void vjp(rows, params, dout, dx, grads);
// a map without one is UNSUPPORTED by every backward form, with that reason.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "eigen_types.hpp"

namespace dfw {

// Learned or random parameters of one head's feature map; null when unused.
template <class R>
struct FeatureParams {
  const R* w = nullptr;      // (m, dk)  relu_proj projection
  const R* b = nullptr;      // (m)      relu_proj bias
  const R* omega = nullptr;  // (m, dk)  favor random features
};

// Where a map's vjp adds the gradients of its learned parameters; null when unused.
template <class R>
struct FeatureGrads {
  R* dw = nullptr;  // (m, dk)  relu_proj projection, accumulated
  R* db = nullptr;  // (m)      relu_proj bias, accumulated
};

// Knobs a spec string can set on a feature map.
struct FeatureConfig {
  int64_t m = 0;   // requested width for relu_proj / favor (0: default = dk)
  int64_t nu = 1;  // dpfp order
};

class FeatureMap {
 public:
  virtual ~FeatureMap() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  virtual int64_t out_dim(int64_t dk, const FeatureConfig& cfg) const = 0;
  virtual bool needs_projection() const { return false; }  // reads w, b
  virtual bool needs_omega() const { return false; }       // reads omega
  virtual bool is_identity() const { return false; }       // phi(x) = x: forms may read x in place
  virtual bool non_negative() const = 0;                   // phi(x) >= 0 everywhere
  // FLOPs of phi on one row (variants/cost_model.hpp); empty: not declared, and
  // cost_model refuses the variant. Parameter bytes come from needs_projection/omega.
  virtual std::optional<double> flops_per_row(double dk, double m) const { return std::nullopt; }

  // x: (n, dk) rows; out: (n, m) rows.
  virtual void apply(ConstMatMap<double> x, const FeatureParams<double>& p, MatMap<double> out) const = 0;
  virtual void apply(ConstMatMap<float> x, const FeatureParams<float>& p, MatMap<float> out) const = 0;

  // Backward: dx (n, dk) = dout (n, m) times the Jacobian of phi at each row of x;
  // the parameters' gradients are added to grads (omega is fixed and gets none).
  virtual bool has_vjp() const { return false; }
  virtual void vjp(ConstMatMap<double> x, const FeatureParams<double>& p, ConstMatMap<double> dout,
                   MatMap<double> dx, const FeatureGrads<double>& grads) const = 0;
  virtual void vjp(ConstMatMap<float> x, const FeatureParams<float>& p, ConstMatMap<float> dout, MatMap<float> dx,
                   const FeatureGrads<float>& grads) const = 0;
};

template <class D, class = void>
struct MapHasVjp : std::false_type {};
template <class D>
struct MapHasVjp<D, std::void_t<decltype(&D::template vjp<double>)>> : std::true_type {};

// Implements both precisions of apply() from one template in the derived map.
template <class Derived>
class FeatureMapOf : public FeatureMap {
 public:
  void apply(ConstMatMap<double> x, const FeatureParams<double>& p, MatMap<double> out) const override {
    Derived::map(x, p, out);
  }
  void apply(ConstMatMap<float> x, const FeatureParams<float>& p, MatMap<float> out) const override {
    Derived::map(x, p, out);
  }
  bool has_vjp() const override { return MapHasVjp<Derived>::value; }
  void vjp(ConstMatMap<double> x, const FeatureParams<double>& p, ConstMatMap<double> dout, MatMap<double> dx,
           const FeatureGrads<double>& g) const override {
    vjp_of(x, p, dout, dx, g);
  }
  void vjp(ConstMatMap<float> x, const FeatureParams<float>& p, ConstMatMap<float> dout, MatMap<float> dx,
           const FeatureGrads<float>& g) const override {
    vjp_of(x, p, dout, dx, g);
  }

 private:
  template <class R>
  void vjp_of(ConstMatMap<R> x, const FeatureParams<R>& p, ConstMatMap<R> dout, MatMap<R> dx,
              const FeatureGrads<R>& g) const {
    if constexpr (MapHasVjp<Derived>::value)
      Derived::vjp(x, p, dout, dx, g);
    else
      throw std::logic_error("feature map " + name() + " declares no vjp");
  }
};

}  // namespace dfw
