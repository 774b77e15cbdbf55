// Eigen aliases used across dfwbench: row-major dynamic matrices and maps onto
// the project's contiguous row-major buffers. Defined once, here.
#pragma once

#include <Eigen/Core>

namespace dfw {

template <class R>
using RowMat = Eigen::Matrix<R, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class R>
using Vec = Eigen::Matrix<R, Eigen::Dynamic, 1>;

template <class R>
using MatMap = Eigen::Map<RowMat<R>>;
template <class R>
using ConstMatMap = Eigen::Map<const RowMat<R>>;
template <class R>
using VecMap = Eigen::Map<Vec<R>>;
template <class R>
using ConstVecMap = Eigen::Map<const Vec<R>>;
template <class R>
using ArrMap = Eigen::Map<Eigen::Array<R, Eigen::Dynamic, 1>>;
template <class R>
using ConstArrMap = Eigen::Map<const Eigen::Array<R, Eigen::Dynamic, 1>>;

}  // namespace dfw
