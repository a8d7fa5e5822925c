//! Property tests: the formula evaluator against an independent reference.

use super::*;

/// A generated arithmetic expression.
#[derive(Debug, Clone)]
enum G {
    Lit(Decimal),
    Var(usize),
    Neg(Box<G>),
    Bin(char, Box<G>, Box<G>),
    Min(Vec<G>),
    Max(Vec<G>),
    Floor(Box<G>),
    Ceil(Box<G>),
    Round(Box<G>),
    If(Box<C>, Box<G>, Box<G>),
}

/// A generated condition.
#[derive(Debug, Clone)]
enum C {
    Cmp(&'static str, G, G),
    And(Box<C>, Box<C>),
    Or(Box<C>, Box<C>),
    Not(Box<C>),
}

const VARS: [&str; 3] = ["a", "b", "c"];

fn decimal(max_mantissa: i64, signed: bool) -> impl Strategy<Value = Decimal> {
    let lo = if signed { -max_mantissa } else { 0 };
    prop_oneof![
        1 => Just(0i64),
        1 => Just(1i64),
        6 => lo..=max_mantissa,
    ]
    .prop_flat_map(|m| (Just(m), 0u32..=3))
    .prop_map(|(m, scale)| Decimal::new(m, scale))
}

fn condition(e: BoxedStrategy<G>) -> BoxedStrategy<C> {
    let op = prop_oneof![Just("<"), Just("<="), Just(">"), Just(">="), Just("=="), Just("!=")];
    let cmp = (op, e.clone(), e).prop_map(|(op, l, r)| C::Cmp(op, l, r)).boxed();
    cmp.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| C::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| C::Or(Box::new(l), Box::new(r))),
            inner.prop_map(|c| C::Not(Box::new(c))),
        ]
    })
    .boxed()
}

fn expression() -> BoxedStrategy<G> {
    let leaf = prop_oneof![
        4 => decimal(100_000, false).prop_map(G::Lit),
        // Large literals, so that overflow is exercised too.
        1 => (1_000_000_000_000_000i64..=i64::MAX).prop_map(|m| G::Lit(Decimal::from(m))),
        5 => (0..VARS.len()).prop_map(G::Var),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        let op = prop_oneof![Just('+'), Just('-'), Just('*'), Just('/')];
        prop_oneof![
            4 => (op, inner.clone(), inner.clone()).prop_map(|(op, l, r)| G::Bin(op, Box::new(l), Box::new(r))),
            1 => inner.clone().prop_map(|e| G::Neg(Box::new(e))),
            1 => prop::collection::vec(inner.clone(), 2..=3).prop_map(G::Min),
            1 => prop::collection::vec(inner.clone(), 2..=3).prop_map(G::Max),
            1 => inner.clone().prop_map(|e| G::Floor(Box::new(e))),
            1 => inner.clone().prop_map(|e| G::Ceil(Box::new(e))),
            1 => inner.clone().prop_map(|e| G::Round(Box::new(e))),
            1 => (condition(inner.clone()), inner.clone(), inner)
                .prop_map(|(c, t, o)| G::If(Box::new(c), Box::new(t), Box::new(o))),
        ]
    })
    .boxed()
}

/// Prints `g` as formula text. With `full`, every compound sub-expression is
/// parenthesised; otherwise only where precedence requires it.
fn print(g: &G, min_prec: u8, full: bool) -> String {
    let (text, prec) = match g {
        G::Lit(d) => (d.to_string(), 7),
        G::Var(i) => (VARS[*i].to_owned(), 7),
        G::Neg(e) => (format!("-{}", print(e, 6, full)), 6),
        G::Bin(op, l, r) => {
            let prec = if matches!(op, '+' | '-') { 4 } else { 5 };
            (format!("{} {op} {}", print(l, prec, full), print(r, prec + 1, full)), prec)
        }
        G::Min(args) | G::Max(args) => {
            let name = if matches!(g, G::Min(_)) { "min" } else { "max" };
            let args: Vec<String> = args.iter().map(|a| print(a, 0, full)).collect();
            (format!("{name}({})", args.join(", ")), 7)
        }
        G::Floor(e) => (format!("floor({})", print(e, 0, full)), 7),
        G::Ceil(e) => (format!("ceil({})", print(e, 0, full)), 7),
        G::Round(e) => (format!("round({})", print(e, 0, full)), 7),
        G::If(c, t, o) => {
            let otherwise = match &**o {
                G::If(..) if !full => print(o, 0, full),
                _ => format!("{{ {} }}", print(o, 0, full)),
            };
            (format!("if {} {{ {} }} else {otherwise}", print_cond(c, 0, full), print(t, 0, full)), 7)
        }
    };
    if prec < min_prec || (full && prec < 7) {
        format!("({text})")
    } else {
        text
    }
}

fn print_cond(c: &C, min_prec: u8, full: bool) -> String {
    let (text, prec) = match c {
        C::Cmp(op, l, r) => (format!("{} {op} {}", print(l, 4, full), print(r, 4, full)), 3),
        C::And(l, r) => (format!("{} && {}", print_cond(l, 2, full), print_cond(r, 3, full)), 2),
        C::Or(l, r) => (format!("{} || {}", print_cond(l, 1, full), print_cond(r, 2, full)), 1),
        C::Not(e) => (format!("!{}", print_cond(e, 6, full)), 6),
    };
    if prec < min_prec || (full && prec < 6) {
        format!("({text})")
    } else {
        text
    }
}

/// An exact rational, `num / den` with `den > 0`, reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Q {
    num: i128,
    den: i128,
}

/// The reference's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum R<T> {
    Val(T),
    DivZero,
    Overflow,
    /// Not exactly representable as a `Decimal` (or too big for `i128`):
    /// the real evaluator may round, so no claim is made.
    Unknown,
}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// 2^96 - 1, the largest `Decimal` mantissa.
const MANTISSA_MAX: i128 = (1 << 96) - 1;

impl Q {
    fn new(num: i128, den: i128) -> Option<Q> {
        let g = gcd(num, den).max(1);
        let (num, den) = (num / g, den / g);
        if den < 0 {
            Some(Q { num: num.checked_neg()?, den: den.checked_neg()? })
        } else {
            Some(Q { num, den })
        }
    }

    fn from_decimal(d: Decimal) -> Q {
        Q::new(d.mantissa(), 10i128.pow(d.scale())).unwrap()
    }

    /// Whether a `Decimal` holds this value exactly: the denominator has
    /// only the factors 2 and 5, the needed scale is at most 28 and the
    /// mantissa fits in 96 bits.
    fn check(self) -> R<Q> {
        let (mut den, mut twos, mut fives) = (self.den, 0u32, 0u32);
        while den % 2 == 0 {
            den /= 2;
            twos += 1;
        }
        while den % 5 == 0 {
            den /= 5;
            fives += 1;
        }
        let too_big = |q: Q| q.num.abs() / q.den > MANTISSA_MAX;
        if too_big(self) {
            return R::Overflow;
        }
        let scale = twos.max(fives);
        if den != 1 || scale > 28 {
            return R::Unknown;
        }
        let factor = 10i128.pow(scale) / self.den;
        match self.num.checked_mul(factor) {
            Some(m) if m.abs() <= MANTISSA_MAX => R::Val(self),
            _ => R::Unknown,
        }
    }

    fn to_decimal(self) -> Decimal {
        let scale = (0..=28).find(|s| 10i128.pow(*s) % self.den == 0).unwrap();
        Decimal::from_i128_with_scale(self.num * (10i128.pow(scale) / self.den), scale)
    }

    fn floor(self) -> Q {
        Q { num: self.num.div_euclid(self.den), den: 1 }
    }

    fn cmp(self, other: Q) -> Option<std::cmp::Ordering> {
        Some(self.num.checked_mul(other.den)?.cmp(&other.num.checked_mul(self.den)?))
    }
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            R::Val(v) => v,
            R::DivZero => return R::DivZero,
            R::Overflow => return R::Overflow,
            R::Unknown => return R::Unknown,
        }
    };
}

macro_rules! some {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return R::Unknown,
        }
    };
}

fn reference(g: &G, vars: &[Decimal; 3]) -> R<Q> {
    match g {
        G::Lit(d) => Q::from_decimal(*d).check(),
        G::Var(i) => Q::from_decimal(vars[*i]).check(),
        G::Neg(e) => {
            let v = tri!(reference(e, vars));
            R::Val(Q { num: -v.num, den: v.den })
        }
        G::Bin(op, l, r) => {
            let l = tri!(reference(l, vars));
            let r = tri!(reference(r, vars));
            if *op == '/' && r.num == 0 {
                return R::DivZero;
            }
            let exact = match op {
                '+' | '-' => {
                    let rn = if *op == '+' { r.num } else { -r.num };
                    l.num
                        .checked_mul(r.den)
                        .zip(rn.checked_mul(l.den))
                        .and_then(|(a, b)| a.checked_add(b))
                        .zip(l.den.checked_mul(r.den))
                        .and_then(|(n, d)| Q::new(n, d))
                }
                '*' => l.num.checked_mul(r.num).zip(l.den.checked_mul(r.den)).and_then(|(n, d)| Q::new(n, d)),
                _ => l.num.checked_mul(r.den).zip(l.den.checked_mul(r.num)).and_then(|(n, d)| Q::new(n, d)),
            };
            match exact {
                Some(q) => q.check(),
                None => {
                    // Too big for i128: estimate, and only claim an overflow
                    // well beyond the largest decimal (about 7.9e28).
                    let (l, r) = (l.num as f64 / l.den as f64, r.num as f64 / r.den as f64);
                    let estimate = match op {
                        '+' => l + r,
                        '-' => l - r,
                        '*' => l * r,
                        _ => l / r,
                    };
                    if estimate.abs() > 1e30 {
                        R::Overflow
                    } else {
                        R::Unknown
                    }
                }
            }
        }
        G::Min(args) | G::Max(args) => {
            let mut best = tri!(reference(&args[0], vars));
            for arg in &args[1..] {
                let v = tri!(reference(arg, vars));
                let ord = some!(v.cmp(best));
                let better = if matches!(g, G::Min(_)) { ord.is_lt() } else { ord.is_gt() };
                if better {
                    best = v;
                }
            }
            R::Val(best)
        }
        G::Floor(e) => R::Val(tri!(reference(e, vars)).floor()),
        G::Ceil(e) => {
            let v = tri!(reference(e, vars));
            let f = Q { num: -v.num, den: v.den }.floor();
            R::Val(Q { num: -f.num, den: 1 })
        }
        G::Round(e) => {
            // Half away from zero: sign * floor(|v| + 1/2).
            let v = tri!(reference(e, vars));
            let doubled = Q { num: some!(some!(v.num.abs().checked_mul(2)).checked_add(v.den)), den: v.den * 2 };
            let f = doubled.floor();
            R::Val(Q { num: if v.num < 0 { -f.num } else { f.num }, den: 1 })
        }
        G::If(c, t, o) => {
            if tri!(reference_cond(c, vars)) {
                reference(t, vars)
            } else {
                reference(o, vars)
            }
        }
    }
}

fn reference_cond(c: &C, vars: &[Decimal; 3]) -> R<bool> {
    match c {
        C::Cmp(op, l, r) => {
            let l = tri!(reference(l, vars));
            let r = tri!(reference(r, vars));
            let ord = some!(l.cmp(r));
            R::Val(match *op {
                "<" => ord.is_lt(),
                "<=" => ord.is_le(),
                ">" => ord.is_gt(),
                ">=" => ord.is_ge(),
                "==" => ord.is_eq(),
                _ => ord.is_ne(),
            })
        }
        C::And(l, r) => R::Val(tri!(reference_cond(l, vars)) && tri!(reference_cond(r, vars))),
        C::Or(l, r) => R::Val(tri!(reference_cond(l, vars)) || tri!(reference_cond(r, vars))),
        C::Not(e) => R::Val(!tri!(reference_cond(e, vars))),
    }
}

fn compare_with_reference(g: &G, vars: &[Decimal; 3]) -> Result<(), TestCaseError> {
    let values: BTreeMap<String, Decimal> = VARS.iter().zip(vars).map(|(k, v)| ((*k).to_owned(), *v)).collect();
    let expected = reference(g, vars);
    for full in [false, true] {
        let text = print(g, 0, full);
        let formula = Formula::parse(&text, &VARS).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        let got = formula.evaluate(&values);
        let arithmetic = |m: &str| Err(EvaluationError::Arithmetic { message: m.to_owned() });
        match expected {
            R::Val(q) => prop_assert_eq!(got, Ok(q.to_decimal()), "{}", text),
            R::DivZero => prop_assert_eq!(got, arithmetic("division by zero"), "{}", text),
            R::Overflow => prop_assert_eq!(got, arithmetic("arithmetic overflow"), "{}", text),
            R::Unknown => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn evaluation_matches_the_reference(
        g in expression(),
        a in decimal(1_000_000, true),
        b in decimal(1_000_000, true),
        c in decimal(1_000_000, true),
    ) {
        compare_with_reference(&g, &[a, b, c])?;
    }

    #[test]
    fn shared_bike_is_exact(thousandths in 1i64..=100_000) {
        let registry = shipped();
        let day = date("2024-01-01");
        // The JSON number is an f64 (as a partner's JSON decodes); its
        // shortest decimal text is the distance in thousandths exactly.
        let distance = thousandths as f64 / 1000.0;
        let given = inputs(json!({ "distance_km": distance }));
        for (code, per_km) in [("CN-BJ", 250), ("CN-HB", 40)] {
            let m = registry.find("shared_bike", &region(code), day).unwrap();
            prop_assert_eq!(m.evaluate(&given), Ok(thousandths * per_km / 1000));
        }
    }

    #[test]
    fn parsing_never_panics(src in "[a-c0-9 +*/()<>=!&|{},.-]{0,40}|(if|else|min|max|floor|round| |a|1|[(){}<>=!&|,+*/-]){0,30}") {
        if let Ok(formula) = Formula::parse(&src, &VARS) {
            let values: BTreeMap<String, Decimal> = VARS.iter().map(|k| ((*k).to_owned(), Decimal::ONE)).collect();
            let _ = formula.evaluate(&values);
        }
    }
}

#[test]
fn reference_agrees_on_hand_written_cases() {
    let vars = [Decimal::new(3, 0), Decimal::new(-25, 1), Decimal::ZERO];
    let lit = |n: i64, s: u32| G::Lit(Decimal::new(n, s));
    let cases = [
        G::Bin('/', Box::new(lit(1, 0)), Box::new(G::Var(2))),
        G::Bin('/', Box::new(lit(1, 0)), Box::new(lit(3, 0))),
        G::Round(Box::new(G::Var(1))),
        G::Bin('*', Box::new(lit(i64::MAX, 0)), Box::new(lit(i64::MAX, 0))),
        G::If(
            Box::new(C::Not(Box::new(C::Cmp("<", G::Var(0), G::Var(1))))),
            Box::new(G::Neg(Box::new(G::Var(0)))),
            Box::new(lit(1, 0)),
        ),
    ];
    assert_eq!(reference(&cases[0], &vars), R::DivZero);
    assert_eq!(reference(&cases[1], &vars), R::Unknown);
    assert_eq!(reference(&cases[2], &vars), R::Val(Q { num: -3, den: 1 }));
    assert_eq!(reference(&cases[3], &vars), R::Overflow);
    assert_eq!(reference(&cases[4], &vars), R::Val(Q { num: -3, den: 1 }));
    for g in &cases {
        compare_with_reference(g, &vars).unwrap();
    }
    assert_eq!(print(&cases[4], 0, false), "if !(a < b) { -a } else { 1 }");
    assert_eq!(print(&cases[4], 0, true), "if !(a < b) { (-a) } else { 1 }");
}
