//! Per-sample codecs of the chunk bitstream: [`TsCodec`] (timestamps: residual against a
//! smoothed scrape interval, adaptive Rice coded), [`IntCodec`] (values that are decimal-scaled
//! integers: delta or delta-of-delta residuals, adaptive Rice coded, with a staleness escape)
//! and [`XorCodec`] (any f64, Gorilla XOR). Each codec's state is identical on the encode and the
//! decode side, so a decoder that has read a whole chunk can continue appending to it.
//!
//! This module knows nothing about the chunk header, sample counts or mode selection.

use pharos_model::STALE_NAN_BITS;

use super::bits::{unzigzag, zigzag, BitBuf, BitReader, Code, Rice};
use super::ChunkError;

/// Largest decimal scale an [`IntCodec`] uses: values are `n / 10^scale`.
pub(crate) const MAX_SCALE: u8 = 9;
/// Largest binary shift an [`IntCodec`] uses.
pub(crate) const MAX_SHIFT: u8 = 63;

const POW10: [f64; MAX_SCALE as usize + 1] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

#[derive(Clone, Debug, Default)]
pub(crate) struct TsCodec {
    pub(crate) prev_t: i64,
    /// Samples coded so far, saturating at 2.
    seen: u8,
    /// Exponential moving average of the deltas, in 1/16 ms.
    ema: i128,
    /// Consecutive residuals rejected as outliers.
    outliers: u8,
    rice: Rice,
}

impl TsCodec {
    #[inline(always)]
    fn predict(&self) -> i64 {
        ((self.ema + 8) >> 4) as i64
    }

    /// Updates the interval estimate after a delta was coded against prediction `pred`.
    #[inline(always)]
    fn observe(&mut self, delta: i64, pred: i64, res: i64) {
        self.rice.update(zigzag(res));
        let target = i128::from(delta) << 4;
        if res.unsigned_abs() > pred.unsigned_abs() >> 4 {
            // A missed scrape or a changed interval: ignore one, follow two in a row.
            self.outliers += 1;
            if self.outliers >= 2 {
                self.ema = target;
                self.outliers = 0;
            }
        } else {
            self.outliers = 0;
            self.ema += (target - self.ema) >> 3;
        }
    }

    pub(crate) fn write(&mut self, w: &mut BitBuf, t: i64) {
        let delta = t.wrapping_sub(self.prev_t);
        match self.seen {
            0 => w.write_varint(t),
            1 => {
                w.write_varint(delta);
                self.ema = i128::from(delta) << 4;
            }
            _ => {
                let pred = self.predict();
                let res = delta.wrapping_sub(pred);
                self.rice.write(w, zigzag(res));
                self.observe(delta, pred, res);
            }
        }
        self.seen = (self.seen + 1).min(2);
        self.prev_t = t;
    }

    #[inline(always)]
    pub(crate) fn read(&mut self, r: &mut BitReader<'_>) -> Result<i64, ChunkError> {
        let t = match self.seen {
            0 => r.read_varint()?,
            1 => {
                let delta = r.read_varint()?;
                self.ema = i128::from(delta) << 4;
                self.prev_t.wrapping_add(delta)
            }
            _ => {
                let Code::Value(u) = self.rice.read(r)? else {
                    return Err(ChunkError::Corrupt("escape code in timestamp stream"));
                };
                let pred = self.predict();
                let res = unzigzag(u);
                let delta = pred.wrapping_add(res);
                self.observe(delta, pred, res);
                self.prev_t.wrapping_add(delta)
            }
        };
        self.seen = (self.seen + 1).min(2);
        self.prev_t = t;
        Ok(t)
    }
}

/// A value as the integer codec sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IntValue {
    Stale,
    Int(i64),
}

/// Maps `v` to the integer `n` with `n / 10^scale == v` bit-exactly, or the stale marker.
pub(crate) fn classify(v: f64, scale: u8) -> Option<IntValue> {
    if v.to_bits() == STALE_NAN_BITS {
        return Some(IntValue::Stale);
    }
    let p = *POW10.get(scale as usize)?;
    let x = v * p;
    if !x.is_finite() || x.abs() >= 9.0e18 {
        return None;
    }
    let n = x.round() as i64;
    (int_to_f64(n, scale).to_bits() == v.to_bits()).then_some(IntValue::Int(n))
}

/// Like [`classify`], but also requires `shift` low zero bits and returns `n >> shift`.
pub(crate) fn fit(v: f64, scale: u8, shift: u8) -> Option<IntValue> {
    match classify(v, scale)? {
        IntValue::Int(n) if n.trailing_zeros() < u32::from(shift) => None,
        IntValue::Int(n) => Some(IntValue::Int(n >> shift)),
        IntValue::Stale => Some(IntValue::Stale),
    }
}

#[inline(always)]
pub(crate) fn int_to_f64(n: i64, scale: u8) -> f64 {
    match POW10.get(scale as usize) {
        Some(&p) if scale > 0 => n as f64 / p,
        _ => n as f64,
    }
}

/// Integer values: the first as a varint, then residuals against one of two predictors —
/// the previous value (delta) or the previous value plus the previous delta (delta-of-delta) —
/// whichever has recently been cheaper; both sides track the same decayed costs.
#[derive(Clone, Debug)]
pub(crate) struct IntCodec {
    pub(crate) scale: u8,
    /// Values are `(m << shift) / 10^scale`; the codec sees `m`.
    pub(crate) shift: u8,
    prev_n: i64,
    prev_delta: i64,
    seen: bool,
    rice_delta: Rice,
    rice_dod: Rice,
    cost_delta: u64,
    cost_dod: u64,
}

impl IntCodec {
    pub(crate) fn new(scale: u8, shift: u8) -> Self {
        IntCodec {
            scale,
            shift,
            prev_n: 0,
            prev_delta: 0,
            seen: false,
            rice_delta: Rice::default(),
            rice_dod: Rice::default(),
            cost_delta: 0,
            cost_dod: 0,
        }
    }

    #[inline(always)]
    fn use_dod(&self) -> bool {
        self.cost_dod <= self.cost_delta
    }

    #[inline(always)]
    fn observe(&mut self, n: i64, delta: i64) {
        let u_delta = zigzag(delta);
        let u_dod = zigzag(delta.wrapping_sub(self.prev_delta));
        self.cost_delta = self.cost_delta - (self.cost_delta >> 3) + self.rice_delta.cost(u_delta);
        self.cost_dod = self.cost_dod - (self.cost_dod >> 3) + self.rice_dod.cost(u_dod);
        self.rice_delta.update(u_delta);
        self.rice_dod.update(u_dod);
        self.prev_n = n;
        self.prev_delta = delta;
    }

    pub(crate) fn write(&mut self, w: &mut BitBuf, v: IntValue) {
        match (self.seen, v) {
            (false, IntValue::Stale) => w.write_bit(true),
            (false, IntValue::Int(n)) => {
                w.write_bit(false);
                w.write_varint(n);
                self.prev_n = n;
                self.seen = true;
            }
            (true, IntValue::Stale) => self.rice_dod.write_escape(w),
            (true, IntValue::Int(n)) => {
                let delta = n.wrapping_sub(self.prev_n);
                if self.use_dod() {
                    self.rice_dod
                        .write(w, zigzag(delta.wrapping_sub(self.prev_delta)));
                } else {
                    self.rice_delta.write(w, zigzag(delta));
                }
                self.observe(n, delta);
            }
        }
    }

    #[inline(always)]
    pub(crate) fn read(&mut self, r: &mut BitReader<'_>) -> Result<f64, ChunkError> {
        let v = if !self.seen {
            if r.read_bit()? {
                IntValue::Stale
            } else {
                let n = r.read_varint()?;
                self.prev_n = n;
                self.seen = true;
                IntValue::Int(n)
            }
        } else {
            let dod = self.use_dod();
            let rice = if dod {
                &self.rice_dod
            } else {
                &self.rice_delta
            };
            match rice.read(r)? {
                Code::Escape => IntValue::Stale,
                Code::Value(u) => {
                    let res = unzigzag(u);
                    let delta = if dod {
                        self.prev_delta.wrapping_add(res)
                    } else {
                        res
                    };
                    let n = self.prev_n.wrapping_add(delta);
                    self.observe(n, delta);
                    IntValue::Int(n)
                }
            }
        };
        Ok(match v {
            IntValue::Stale => f64::from_bits(STALE_NAN_BITS),
            IntValue::Int(m) => int_to_f64(m.wrapping_shl(u32::from(self.shift)), self.scale),
        })
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct XorCodec {
    prev: u64,
    /// (leading zeros, trailing zeros) of the current XOR window, once one exists.
    window: Option<(u32, u32)>,
    seen: bool,
}

impl XorCodec {
    pub(crate) fn write(&mut self, w: &mut BitBuf, v: f64) {
        let bits = v.to_bits();
        if !self.seen {
            w.write_bits(bits, 64);
            self.seen = true;
            self.prev = bits;
            return;
        }
        let xor = bits ^ self.prev;
        self.prev = bits;
        if xor == 0 {
            w.write_bit(false);
            return;
        }
        let leading = xor.leading_zeros().min(31);
        let trailing = xor.trailing_zeros();
        if let Some((pl, pt)) = self.window {
            if leading >= pl && trailing >= pt {
                w.write_bits(0b10, 2);
                w.write_bits(xor >> pt, 64 - pl - pt);
                return;
            }
        }
        let sig = 64 - leading - trailing;
        w.write_bits(0b11, 2);
        w.write_bits(u64::from(leading), 5);
        w.write_bits(u64::from(sig & 63), 6);
        w.write_bits(xor >> trailing, sig);
        self.window = Some((leading, trailing));
    }

    #[inline(always)]
    pub(crate) fn read(&mut self, r: &mut BitReader<'_>) -> Result<f64, ChunkError> {
        if !self.seen {
            self.prev = r.read_bits(64)?;
            self.seen = true;
            return Ok(f64::from_bits(self.prev));
        }
        if r.read_bit()? {
            let (lead, trail) = if r.read_bit()? {
                let lead = r.read_bits(5)? as u32;
                let sig = match r.read_bits(6)? as u32 {
                    0 => 64,
                    s => s,
                };
                if lead + sig > 64 {
                    return Err(ChunkError::Corrupt("xor window wider than 64 bits"));
                }
                let trail = 64 - lead - sig;
                self.window = Some((lead, trail));
                (lead, trail)
            } else {
                self.window
                    .ok_or(ChunkError::Corrupt("xor window reused before defined"))?
            };
            let sig = 64 - lead - trail;
            let xor = r.read_bits(sig)?;
            self.prev ^= xor.checked_shl(trail).unwrap_or(0);
        }
        Ok(f64::from_bits(self.prev))
    }
}
