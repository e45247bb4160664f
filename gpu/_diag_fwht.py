import cupy, numpy as np, time
from sparserec.wht._cuda import fwht_plan, fwht_rows, device_shared_bytes
print("shared default", device_shared_bytes())
x = cupy.random.standard_normal(1 << 26, dtype=cupy.float32)
y = cupy.empty_like(x)
def t(fn, n=20):
    fn(); cupy.cuda.Device().synchronize()
    s = cupy.cuda.Event(); e = cupy.cuda.Event(); s.record()
    for _ in range(n): fn()
    e.record(); e.synchronize(); return cupy.cuda.get_elapsed_time(s, e) / n
print("copy ms", t(lambda: y.__setitem__(Ellipsis, x)))
for sb, cb in [(32768, 128), (131072, 64)]:
    plan = fwht_plan(26, 4, shared_bytes=sb, coalesce_bytes=cb)
    print(sb, cb, "whole", t(lambda: fwht_rows(x, 1.0, plan)))
    for p in plan:
        print("   pass", tuple(p), t(lambda p=p: fwht_rows(x, 1.0, [p])))
# a launch-overhead probe: a 1-pass plan on a tiny array
small = cupy.zeros(1 << 10, dtype=cupy.float32)
print("tiny call ms", t(lambda: fwht_rows(small, 1.0)))
k = cupy.RawKernel(r'extern "C" __global__ void cp(const float4* a, float4* b, long long n){long long i=blockIdx.x*(long long)blockDim.x+threadIdx.x; if(i<n) b[i]=a[i];}', 'cp')
n4 = x.size // 4
print("raw float4 copy ms", t(lambda: k(((n4 + 255)//256,), (256,), (x, y, np.int64(n4)))))
