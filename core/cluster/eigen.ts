/**
 * Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations (exact to rounding,
 * O(d³) per sweep; meant for d up to a few hundred: PCA covariances, the small factor of a
 * randomised SVD). Eigenvalues come sorted descending; each eigenvector's largest-magnitude entry
 * is made positive so results are deterministic.
 *
 * @module
 */

/** Eigenvalues (descending) and eigenvectors (`vectors[i]` belongs to `values[i]`). */
export interface Eigen {
  /** The d eigenvalues, largest first. */
  values: number[];
  /** The d unit eigenvectors, each of length d, largest-magnitude entry positive. */
  vectors: Float64Array[];
}

/** Decomposes the symmetric `d × d` matrix `a` (row-major; not modified). */
export function symmetricEigen(a: Float64Array, d: number): Eigen {
  if (a.length !== d * d) {
    throw new Error(`symmetricEigen: ${a.length} values for a ${d}×${d} matrix`);
  }
  const m = Float64Array.from(a);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += m[p * d + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = m[p * d + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * d + q] - m[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = m[k * d + p], akq = m[k * d + q];
          m[k * d + p] = c * akp - s * akq;
          m[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = m[p * d + k], aqk = m[q * d + k];
          m[p * d + k] = c * apk - s * aqk;
          m[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p], vkq = v[k * d + q];
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: d }, (_, i) => i).sort((i, j) => m[j * d + j] - m[i * d + i]);
  return {
    values: order.map((i) => m[i * d + i]),
    vectors: order.map((i) => {
      const vec = Float64Array.from({ length: d }, (_, k) => v[k * d + i]);
      let big = 0;
      for (let k = 1; k < d; k++) if (Math.abs(vec[k]) > Math.abs(vec[big])) big = k;
      if (vec[big] < 0) { for (let k = 0; k < d; k++) vec[k] = -vec[k]; }
      return vec;
    }),
  };
}
