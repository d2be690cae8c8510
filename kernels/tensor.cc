#include "kernels/ops.h"

namespace tessera::kernels {

Tensor Tensor::ColumnSlice(int64_t col_begin, int64_t heads, int64_t head_dim) const {
  Tensor t;
  t.data = static_cast<char*>(data) + col_begin * static_cast<int64_t>(DTypeSize(dtype));
  t.dtype = dtype;
  t.shape = {shape[0], heads, head_dim};
  t.rank = 3;
  t.row_stride = stride();
  return t;
}

Tensor Tensor::RowSlice(int64_t begin, int64_t count) const {
  Tensor t = *this;
  t.data = static_cast<char*>(data) + begin * stride() * static_cast<int64_t>(DTypeSize(dtype));
  t.shape[0] = count;
  return t;
}

}  // namespace tessera::kernels
