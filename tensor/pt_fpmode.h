/* Denormal floats flushed to zero, for speed.
 *
 * Intel cores take a microcode assist (~100x slower) on every FMA that
 * meets a denormal (|x| < 1.2e-38 in F32) as input or output. A training
 * run can drift into them (tiny attention probabilities, vanishing
 * gradients, decayed Adam moments): a BERT-base full fine-tuning step
 * measured here went from 2.5 s to 7.2 s over ten steps as they spread, and
 * stays at 2.4 s with them flushed. Flushing (x86 FTZ + DAZ; the FZ bit on
 * AArch64) treats denormal inputs and results as ±0, a change far below
 * any float32 tolerance ptune tests against (1e-5); TensorFlow does it by
 * default, PyTorch offers it as torch.set_flush_denormal. The library
 * leaves the IEEE default alone; the `ptune` command turns flushing on
 * (`ptune --keep-denormals` opts out). */
#ifndef PT_FPMODE_H
#define PT_FPMODE_H

#include <stdbool.h>

/* Sets the mode on the calling thread and on every thread of the OpenMP
 * pool (which the OpenMP build of OpenBLAS shares); threads created later
 * inherit it from their creator. Returns false (and changes nothing) where
 * the CPU has no such mode. Call it outside parallel regions. */
bool pt_set_flush_denormal(bool on);

/* Whether the calling thread flushes denormals. */
bool pt_flush_denormal(void);

#endif
