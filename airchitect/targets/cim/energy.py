"""Published per-operation energy constants of RRAM crossbar accelerators.

Every constant is named after its source and converted to picojoules (pJ).

ISAAC (Shafiee et al., ISCA 2016, Table 2; 32 nm, 1.2 GHz, 100 ns crossbar
read) gives the component powers of one in-situ multiply-accumulate unit:

- ADC: 8 bits at 1.28 GS/s, 8 ADCs draw 16 mW, so one conversion costs
  2 mW / 1.28 GS/s = 1.5625 pJ (:data:`ISAAC_ADC_8BIT_PJ`).
- DAC: 1 bit, 8 x 128 DACs draw 4 mW, so one DAC over one 100 ns read costs
  4 mW / 1024 x 100 ns = 0.390625 pJ (:data:`ISAAC_DAC_1BIT_PJ`).
- shift-and-add: 4 units draw 0.2 mW at 1.28 GHz, so one operation costs
  0.05 mW / 1.28 GHz = 0.0390625 pJ (:data:`ISAAC_SHIFT_ADD_PJ`).

NeuroSim (Peng, Yu et al., DNN+NeuroSim ``Param.cpp`` defaults for RRAM)
gives the device: R_on = 6 kOhm, R_off = 900 kOhm (on/off ratio 150),
read voltage 0.5 V with a 10 ns read pulse, write voltage 2 V.

- cell read, worst case (LRS): 0.5 V^2 / 6 kOhm x 10 ns = 0.41667 pJ
  (:data:`NEUROSIM_CELL_READ_PJ`).
- cell write: 2 V^2 / 6 kOhm over one 10 ns pulse = 6.6667 pJ
  (:data:`NEUROSIM_CELL_WRITE_PJ`; the pulse width is our assumption, equal
  to the read pulse; one pulse per programmed cell).

Scaling assumptions (ours, stated so they can be changed):

- ADC energy doubles per bit of resolution (the flash/SAR trend ISAAC
  cites): ``E(r) = 1.5625 pJ * 2 ** (r - 8)``.
- a ``d``-bit DAC costs ``2**d - 1`` times the 1-bit DAC (one unit per
  non-zero voltage level).

>>> float(adc_energy_pj(8))
1.5625
>>> float(adc_energy_pj(10))
6.25
"""

import numpy as np

ISAAC_ADC_8BIT_PJ = 2e-3 / 1.28e9 * 1e12
ISAAC_DAC_1BIT_PJ = 4e-3 / 1024 * 100e-9 * 1e12
ISAAC_SHIFT_ADD_PJ = 0.2e-3 / 4 / 1.28e9 * 1e12
NEUROSIM_R_ON_OHM = 6e3
NEUROSIM_R_OFF_OHM = 6e3 * 150
NEUROSIM_V_READ = 0.5
NEUROSIM_T_READ_S = 10e-9
NEUROSIM_V_WRITE = 2.0
NEUROSIM_CELL_READ_PJ = NEUROSIM_V_READ**2 / NEUROSIM_R_ON_OHM * NEUROSIM_T_READ_S * 1e12
NEUROSIM_CELL_WRITE_PJ = NEUROSIM_V_WRITE**2 / NEUROSIM_R_ON_OHM * NEUROSIM_T_READ_S * 1e12


def adc_energy_pj(bits):
    """Energy of one ADC conversion at ``bits`` resolution, pJ (ISAAC 8-bit, x2 per bit)."""
    return ISAAC_ADC_8BIT_PJ * np.exp2(np.asarray(bits, dtype=np.float64) - 8)


def dac_energy_pj(bits):
    """Energy of one ``bits``-bit DAC drive over one crossbar read, pJ."""
    return ISAAC_DAC_1BIT_PJ * (np.exp2(np.asarray(bits, dtype=np.float64)) - 1)
