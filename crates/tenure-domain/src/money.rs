//! Money in integer minor units with an ISO 4217 currency. Floating point never touches an
//! amount: ARR, MRR and changes add up to the cent.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// An ISO 4217 currency code: three uppercase ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub const USD: Currency = Currency(*b"USD");
    pub const EUR: Currency = Currency(*b"EUR");

    pub fn parse(s: &str) -> Result<Currency, DomainError> {
        let b = s.as_bytes();
        if b.len() == 3 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(DomainError::InvalidCurrency(s.chars().take(20).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII uppercase letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Digits after the decimal point in this currency's minor unit (ISO 4217).
    pub fn exponent(&self) -> u32 {
        match self.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Currency::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money in the currency's minor unit (cents for USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Parses a decimal amount in major units ("1234.5", "-20", "99.99") exactly, refusing
    /// more decimals than the currency has.
    pub fn parse_major(s: &str, currency: Currency) -> Result<Money, DomainError> {
        let invalid = |why: &str| DomainError::InvalidAmount {
            value: s.chars().take(40).collect(),
            problem: why.to_owned(),
        };
        let exp = currency.exponent();
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && frac.is_empty() {
            return Err(invalid("expected a number such as 1234.50"));
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                "expected digits with an optional '.' and sign, no separators",
            ));
        }
        if frac.len() > exp as usize {
            return Err(invalid(&format!(
                "{currency} has {exp} decimal place{}",
                if exp == 1 { "" } else { "s" }
            )));
        }
        let scale = 10i64.pow(exp);
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole
                .parse()
                .map_err(|_| invalid("the amount is too large"))?
        };
        let frac_value: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse::<i64>().map_err(|_| invalid("bad decimals"))?
                * 10i64.pow(exp - frac.len() as u32)
        };
        let minor = whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(frac_value))
            .ok_or_else(|| invalid("the amount is too large"))?;
        Ok(Money::new(if negative { -minor } else { minor }, currency))
    }

    /// The amount in major units, for display and reporting only.
    pub fn major(&self) -> f64 {
        self.minor as f64 / 10f64.powi(self.currency.exponent() as i32)
    }

    pub fn checked_add(self, other: Money) -> Result<Money, DomainError> {
        if self.currency != other.currency {
            return Err(DomainError::CurrencyMismatch(self.currency, other.currency));
        }
        self.minor
            .checked_add(other.minor)
            .map(|minor| Money::new(minor, self.currency))
            .ok_or(DomainError::Overflow)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = self.currency.exponent();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if exp == 0 {
            write!(f, "{sign}{abs} {}", self.currency)
        } else {
            let scale = 10u64.pow(exp);
            write!(
                f,
                "{sign}{}.{:0width$} {}",
                abs / scale,
                abs % scale,
                self.currency,
                width = exp as usize
            )
        }
    }
}

impl FromStr for Currency {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, DomainError> {
        Currency::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_major_units_exactly() {
        let usd = Currency::USD;
        assert_eq!(Money::parse_major("1234.5", usd).unwrap().minor, 123_450);
        assert_eq!(Money::parse_major("-0.07", usd).unwrap().minor, -7);
        assert_eq!(Money::parse_major(".5", usd).unwrap().minor, 50);
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Money::parse_major("1200", jpy).unwrap().minor, 1200);
        assert!(Money::parse_major("12.5", jpy).is_err());
        assert!(Money::parse_major("1,200.00", usd).is_err());
        assert!(Money::parse_major("", usd).is_err());
        assert!(Money::parse_major("99999999999999999999", usd).is_err());
        assert!(Currency::parse("usd").is_err());
    }

    #[test]
    fn adding_different_currencies_is_an_error() {
        let a = Money::new(100, Currency::USD);
        let b = Money::new(100, Currency::EUR);
        assert!(a.checked_add(b).is_err());
        assert_eq!(a.checked_add(a).unwrap().minor, 200);
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(minor in -1_000_000_000_000i64..1_000_000_000_000i64) {
            for code in ["USD", "JPY", "KWD"] {
                let m = Money::new(minor, Currency::parse(code).unwrap());
                let shown = m.to_string();
                let amount = shown.split(' ').next().unwrap();
                prop_assert_eq!(Money::parse_major(amount, m.currency).unwrap(), m);
            }
        }
    }
}
