//! Kubernetes quantities (`1`, `1500m`, `4028748Ki`, `4Gi`, `3.5G`, `1e3`) as whole
//! millicores or bytes, rounded down.

/// A quantity that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Not of the form `<number><suffix>`.
    #[error("not a quantity")]
    Syntax,
    /// Negative capacities make no sense here.
    #[error("negative")]
    Negative,
    /// Larger than this library can count.
    #[error("too large")]
    Overflow,
}

/// CPU as millicores: `1` → 1000, `1500m` → 1500, `250u` → 0.
pub fn cpu_millis(text: &str) -> Result<u64, QuantityError> {
    scaled(text, 1000)
}

/// Memory as bytes: `4Gi` → 4294967296, `3.5G` → 3500000000, `1000m` → 1.
pub fn bytes(text: &str) -> Result<u64, QuantityError> {
    scaled(text, 1)
}

/// `text × unit`, rounded down.
fn scaled(text: &str, unit: u128) -> Result<u64, QuantityError> {
    let text = text.trim();
    let text = match text.strip_prefix('-') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit() || c == '.') => {
            return Err(QuantityError::Negative);
        }
        Some(_) => return Err(QuantityError::Syntax),
        None => text.strip_prefix('+').unwrap_or(text),
    };
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(end);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') {
        return Err(QuantityError::Syntax);
    }
    let mut mantissa: u128 = 0;
    for d in whole.bytes().chain(frac.bytes()) {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(u128::from(d - b'0')))
            .ok_or(QuantityError::Overflow)?;
    }
    let frac_len = u32::try_from(frac.len()).map_err(|_| QuantityError::Overflow)?;
    let (mul, mut div) = multiplier(suffix)?;
    div = div
        .checked_mul(pow10(frac_len)?)
        .ok_or(QuantityError::Overflow)?;
    let value = mantissa
        .checked_mul(mul)
        .and_then(|v| v.checked_mul(unit))
        .ok_or(QuantityError::Overflow)?
        / div;
    u64::try_from(value).map_err(|_| QuantityError::Overflow)
}

fn pow10(exp: u32) -> Result<u128, QuantityError> {
    10u128.checked_pow(exp).ok_or(QuantityError::Overflow)
}

/// A suffix as `(multiplier, divisor)`.
fn multiplier(suffix: &str) -> Result<(u128, u128), QuantityError> {
    let binary = |shift: u32| Ok((1u128 << shift, 1));
    let decimal = |exp: u32| Ok((pow10(exp)?, 1));
    match suffix {
        "" => decimal(0),
        "n" => Ok((1, pow10(9)?)),
        "u" => Ok((1, pow10(6)?)),
        "m" => Ok((1, 1000)),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let exp = suffix
                .strip_prefix(['e', 'E'])
                .ok_or(QuantityError::Syntax)?;
            let (negative, digits) = match exp.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, exp.strip_prefix('+').unwrap_or(exp)),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(QuantityError::Syntax);
            }
            let n: u32 = digits.parse().map_err(|_| QuantityError::Overflow)?;
            if negative {
                Ok((1, pow10(n)?))
            } else {
                decimal(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_forms_nodes_report_parse() {
        assert_eq!(cpu_millis("1"), Ok(1000));
        assert_eq!(cpu_millis("1500m"), Ok(1500));
        assert_eq!(cpu_millis("0.5"), Ok(500));
        assert_eq!(bytes("4028748Ki"), Ok(4_125_437_952));
        assert_eq!(bytes("4Gi"), Ok(4 << 30));
        assert_eq!(bytes("3.5G"), Ok(3_500_000_000));
        assert_eq!(bytes("123456"), Ok(123_456));
        assert_eq!(bytes("1e3"), Ok(1000));
        assert_eq!(bytes("1500m"), Ok(1));
    }

    #[test]
    fn garbage_and_negatives_are_refused() {
        for bad in ["", "x", "1x", "1.2.3", "Gi", ".", "1Gii", "1e", "--1"] {
            assert_eq!(bytes(bad), Err(QuantityError::Syntax), "{bad:?}");
        }
        assert_eq!(bytes("-1"), Err(QuantityError::Negative));
        assert_eq!(bytes("99999999Ei"), Err(QuantityError::Overflow));
    }

    proptest! {
        #[test]
        fn plain_numbers_are_bytes_and_cores(n in 0u64..u64::MAX / 1000) {
            prop_assert_eq!(bytes(&n.to_string()), Ok(n));
            prop_assert_eq!(cpu_millis(&n.to_string()), Ok(n * 1000));
            prop_assert_eq!(cpu_millis(&format!("{n}m")), Ok(n));
        }

        #[test]
        fn binary_suffixes_multiply_by_powers_of_1024(n in 0u64..1 << 20, i in 0usize..4) {
            let suffix = ["Ki", "Mi", "Gi", "Ti"][i];
            let shift = 10 * (i as u32 + 1);
            prop_assert_eq!(bytes(&format!("{n}{suffix}")), Ok(n << shift));
        }

        #[test]
        fn decimals_round_down(whole in 0u64..1000, frac in 0u64..1000) {
            // `w.fffG` is exact in bytes; `w.fff` cores with one more digit rounds down.
            prop_assert_eq!(bytes(&format!("{whole}.{frac:03}G")), Ok(whole * 1_000_000_000 + frac * 1_000_000));
            prop_assert_eq!(cpu_millis(&format!("{whole}.{frac:03}9")), Ok(whole * 1000 + frac));
        }

        #[test]
        fn never_panics(text in "\\PC{0,12}") {
            let _ = bytes(&text);
            let _ = cpu_millis(&text);
        }
    }
}
