#ifndef HANDOFF_CGSL_SHIM_H
#define HANDOFF_CGSL_SHIM_H
#include <gsl/gsl_errno.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>
#include <gsl/gsl_sort_double.h>
#include <gsl/gsl_math.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_roots.h>
#include <gsl/gsl_min.h>

/* Swift 6 rejects C globals such as gsl_rng_mt19937 as shared mutable state; hand them out
   through functions instead. */
static inline const gsl_rng_type *handoff_rng_mt19937(void) { return gsl_rng_mt19937; }
static inline const gsl_rng_type *handoff_rng_taus2(void) { return gsl_rng_taus2; }
static inline const gsl_root_fsolver_type *handoff_root_brent(void) { return gsl_root_fsolver_brent; }
static inline const gsl_min_fminimizer_type *handoff_min_brent(void) { return gsl_min_fminimizer_brent; }
#endif
