//! `VerifyParams`: the tolerances and weights of verification (SPEC §5).

use fractal_core::VerifyParams;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::given_dict;
use crate::de::Host;
use crate::error::CoreResultExt as _;

/// Verification parameters (SPEC §5). Every argument is keyword-only and defaults
/// to the contract's value: tol_d=0.15, tol_coh=0.05, alpha=0.30, beta=0.50,
/// gamma=0.20, base=0.10, d0=2.2, budget_tol=0.01. Values must be finite and the
/// tolerances non-negative (InvalidArgumentError naming the parameter).
///
/// >>> VerifyParams(tol_d=0.2).tol_d
/// 0.2
#[pyclass(frozen, eq, module = "fractal_lba", name = "VerifyParams")]
#[derive(Clone, PartialEq)]
pub(crate) struct PyVerifyParams {
    pub(crate) inner: VerifyParams,
}

#[pymethods]
impl PyVerifyParams {
    #[new]
    #[pyo3(signature = (*, tol_d=None, tol_coh=None, alpha=None, beta=None, gamma=None, base=None, d0=None, budget_tol=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        tol_d: Option<&Bound<'_, PyAny>>,
        tol_coh: Option<&Bound<'_, PyAny>>,
        alpha: Option<&Bound<'_, PyAny>>,
        beta: Option<&Bound<'_, PyAny>>,
        gamma: Option<&Bound<'_, PyAny>>,
        base: Option<&Bound<'_, PyAny>>,
        d0: Option<&Bound<'_, PyAny>>,
        budget_tol: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let given = given_dict(
            py,
            [
                ("tol_d", tol_d),
                ("tol_coh", tol_coh),
                ("alpha", alpha),
                ("beta", beta),
                ("gamma", gamma),
                ("base", base),
                ("d0", d0),
                ("budget_tol", budget_tol),
            ],
        )?;
        let inner = VerifyParams::deserialize_from(Host::new(&given)).or_raise(py)?;
        Ok(PyVerifyParams { inner })
    }

    /// Tolerance on |D_hat − recomputed_D_hat|.
    #[getter]
    fn tol_d(&self) -> f64 {
        self.inner.tol_d
    }
    /// Tolerance above 1 for coh_star.
    #[getter]
    fn tol_coh(&self) -> f64 {
        self.inner.tol_coh
    }
    /// Budget weight of 1 − r.
    #[getter]
    fn alpha(&self) -> f64 {
        self.inner.alpha
    }
    /// Budget weight of max(0, D_hat − d0).
    #[getter]
    fn beta(&self) -> f64 {
        self.inner.beta
    }
    /// Budget weight of coh_star.
    #[getter]
    fn gamma(&self) -> f64 {
        self.inner.gamma
    }
    /// Budget base.
    #[getter]
    fn base(&self) -> f64 {
        self.inner.base
    }
    /// Dimension threshold of the budget.
    #[getter]
    fn d0(&self) -> f64 {
        self.inner.d0
    }
    /// Tolerance on |budget − recomputed_budget|.
    #[getter]
    fn budget_tol(&self) -> f64 {
        self.inner.budget_tol
    }

    /// The parameters as a dict with the wire names (tol_d, tol_coh, alpha, beta,
    /// gamma, base, d0, budget_tol).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let p = &self.inner;
        let d = PyDict::new(py);
        for (k, v) in [
            ("tol_d", p.tol_d),
            ("tol_coh", p.tol_coh),
            ("alpha", p.alpha),
            ("beta", p.beta),
            ("gamma", p.gamma),
            ("base", p.base),
            ("d0", p.d0),
            ("budget_tol", p.budget_tol),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        format!(
            "VerifyParams(tol_d={:?}, tol_coh={:?}, alpha={:?}, beta={:?}, gamma={:?}, base={:?}, d0={:?}, budget_tol={:?})",
            p.tol_d, p.tol_coh, p.alpha, p.beta, p.gamma, p.base, p.d0, p.budget_tol
        )
    }
}

/// The parameters to use: the given ones, or the contract's defaults.
pub(crate) fn params_or_default(params: Option<&Bound<'_, PyVerifyParams>>) -> VerifyParams {
    params.map(|p| p.get().inner).unwrap_or_default()
}
