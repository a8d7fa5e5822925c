//! Unit tests of the formula language.

use super::*;
use std::str::FromStr;

const INPUTS: [&str; 3] = ["a", "b", "distance_km"];

fn values() -> BTreeMap<String, Decimal> {
    [("a", "3"), ("b", "-2.5"), ("distance_km", "3.2")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Decimal::from_str(v).unwrap()))
        .collect()
}

/// `expect` is the decimal result, or `error: <message>` for an
/// evaluation error.
fn check(src: &str, expect: &str) {
    let formula = Formula::parse(src, &INPUTS).unwrap_or_else(|e| panic!("{src}: {e}"));
    let got = match formula.evaluate(&values()) {
        Ok(d) => d.normalize().to_string(),
        Err(e) => format!("error: {e}"),
    };
    assert_eq!(got, expect, "{src}");
}

/// `expect` is the exact parse error message, with its column.
fn check_error(src: &str, expect: &str) {
    match Formula::parse(src, &INPUTS) {
        Ok(f) => panic!("{src}: parsed as {f:?}"),
        Err(e) => assert_eq!(e.to_string(), expect, "{src}"),
    }
}

#[test]
fn evaluates() {
    for (src, expect) in [
        ("0", "0"),
        ("45.72", "45.72"),
        ("250 * distance_km", "800"),
        ("40 * distance_km", "128"),
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("10 - 4 - 3", "3"),
        ("24 / 4 / 2", "3"),
        ("2 * -a", "-6"),
        ("--a", "3"),
        ("-(a + b)", "-0.5"),
        ("1 / 8", "0.125"),
        ("1 / 3 * 3", "0.9999999999999999999999999999"),
        ("min(a, b)", "-2.5"),
        ("max(a, b, 7, 1)", "7"),
        ("floor(b)", "-3"),
        ("ceil(b)", "-2"),
        ("round(b)", "-3"),
        ("round(2.5)", "3"),
        ("round(2.49)", "2"),
        ("round(-0.5)", "-1"),
        ("floor(45.72)", "45"),
        ("if a > 2 { 1 } else { 2 }", "1"),
        ("if a > 3 { 1 } else { 2 }", "2"),
        ("if a >= 3 && b < 0 { 1 } else { 2 }", "1"),
        ("if a == 3 || 1 / 0 > 1 { 1 } else { 2 }", "1"),
        ("if a != 3 && 1 / 0 > 1 { 1 } else { 2 }", "2"),
        ("if !(a < b) { 1 } else { 2 }", "1"),
        ("if a < 0 { 1 } else if a < 5 { 2 } else { 3 }", "2"),
        ("if a < 0 { 1 } else if a < 2 { 2 } else if b < 0 { 4 } else { 3 }", "4"),
        ("1 + if a > 0 { 10 } else { 20 } * 2", "21"),
        ("if (a > 0) && (b > 0 || a == 3) { 1 } else { 0 }", "1"),
        ("if (a + 1) * 2 > 7 { 1 } else { 0 }", "1"),
        ("min(296, floor(10000 * 0.0296))", "296"),
        ("  250*distance_km  ", "800"),
        ("250\n  * distance_km", "800"),
        ("1 / 0", "error: formula error: division by zero"),
        ("a / (b + 2.5)", "error: formula error: division by zero"),
        ("79228162514264337593543950335 + 1", "error: formula error: arithmetic overflow"),
        ("79228162514264337593543950335 * 2", "error: formula error: arithmetic overflow"),
        ("-79228162514264337593543950335 - 1", "error: formula error: arithmetic overflow"),
    ] {
        check(src, expect);
    }
}

#[test]
fn rejects_at_load() {
    for (src, expect) in [
        ("", "the formula is empty at column 1"),
        ("   ", "the formula is empty at column 4"),
        ("250 * distanse_km", "unknown input `distanse_km` (declared inputs: a, b, distance_km) at column 7"),
        ("sqrt(a)", "unknown function `sqrt` (functions: min, max, floor, ceil, round) at column 1"),
        ("min(a)", "`min` takes two or more arguments, got 1 at column 1"),
        ("max()", "`max` takes two or more arguments, got 0 at column 1"),
        ("floor(a, b)", "`floor` takes one argument, got 2 at column 1"),
        ("round", "`round` is a function; call it as `round(…)` at column 1"),
        ("1 + 2 3", "unexpected number `3` after a complete formula at column 7"),
        ("1 + 2)", "unexpected `)` after a complete formula at column 6"),
        ("(1 + 2", "expected `)` to close the `(`, found the end of the formula at column 7"),
        ("1 +", "expected a number, an input, a function call, `if` or `(`, found the end of the formula at column 4"),
        ("1 ** 2", "expected a number, an input, a function call, `if` or `(`, found `*` at column 4"),
        ("a = 1", "unexpected `=`; did you mean `==`? at column 3"),
        ("a & b", "unexpected `&`; did you mean `&&`? at column 3"),
        ("a # b", "unexpected character `#` at column 3"),
        ("a × b", "unexpected character `×` at column 3"),
        ("1.", "expected digits after the decimal point at column 3"),
        ("1e3", "unexpected `e` right after a number (numbers are written like 45.72) at column 2"),
        ("1.2.3", "unexpected `.` right after a number (numbers are written like 45.72) at column 4"),
        ("a < b", "expected a number, found a condition (conditions only follow `if`) at column 1"),
        ("1 + (a < b)", "expected a number, found a condition (conditions only follow `if`) at column 5"),
        ("if a { 1 } else { 2 }", "a number is not a condition; compare it, e.g. `x > 0` at column 4"),
        ("if a > 1 && b { 1 } else { 2 }", "a number is not a condition; compare it, e.g. `x > 0` at column 13"),
        ("if !a { 1 } else { 2 }", "`!` applies to a condition, not a number at column 5"),
        ("if a > 1 { a > 2 } else { 2 }", "an `if` branch must be a number at column 12"),
        ("if a > 1 { 1 }", "expected `else` after the `if` branch, found the end of the formula at column 15"),
        ("if a > 1 { } else { 2 }", "an `if` branch cannot be empty at column 12"),
        ("if { 1 } else { 2 }", "`if` needs a condition before `{` at column 4"),
        (
            "if 0 < a < 2 { 1 } else { 2 }",
            "comparisons cannot be chained; join them with `&&`, e.g. `0 < x && x < 10` at column 10",
        ),
        ("if (a < b) < 1 { 1 } else { 0 }", "only numbers can be compared at column 4"),
        ("min(a < b, 1)", "expected a number, found a condition (conditions only follow `if`) at column 5"),
        ("else", "unexpected `else` without `if` at column 1"),
        ("123456789012345678901234567890", "the number `123456789012345678901234567890` is out of range at column 1"),
        ("1 +\n  foo", "unknown input `foo` (declared inputs: a, b, distance_km) at line 2, column 3"),
    ] {
        check_error(src, expect);
    }
    let no_inputs: [&str; 0] = [];
    assert_eq!(
        Formula::parse("items * 2", &no_inputs).unwrap_err().to_string(),
        "unknown input `items` (no inputs are declared) at column 1"
    );
}

#[test]
fn limits_depth_and_length() {
    let ok = format!("{}1{}", "(".repeat(64), ")".repeat(64));
    check(&ok, "1");
    let deep = format!("{}1{}", "(".repeat(65), ")".repeat(65));
    check_error(&deep, "the formula nests deeper than 64 levels at column 65");
    let minus = format!("{}1", "-".repeat(65));
    check_error(&minus, "the formula nests deeper than 64 levels at column 65");
    let calls = format!("{}1{}", "floor(".repeat(65), ")".repeat(65));
    check_error(&calls, "the formula nests deeper than 64 levels at column 385");
    // A long flat chain is fine: the nesting is what is limited.
    let long = vec!["1"; 2000].join("+");
    assert!(long.len() <= MAX_SOURCE_LEN);
    check(&long, "2000");
    let conditions = format!("if {} {{ 1 }} else {{ 0 }}", vec!["a > 0"; 400].join(" && "));
    check(&conditions, "1");
    let either = format!("if {} {{ 1 }} else {{ 0 }}", vec!["a < 0"; 400].join(" || "));
    check(&either, "0");
    // The deepest nesting of every kind still parses and evaluates on a
    // test thread's stack.
    let ifs = format!("{}1{}", "if a > 0 { ".repeat(64), " } else { 0 }".repeat(64));
    check(&ifs, "1");
    let mut in_conditions = "a".to_owned();
    for _ in 0..32 {
        in_conditions = format!("if ({in_conditions}) > 0 {{ 1 }} else {{ 0 }}");
    }
    check(&in_conditions, "1");
    let mixed = format!("{}a{}", "-floor(if !(a < 0) { ".repeat(16), " } else { 0 })".repeat(16));
    check(&mixed, "3");
    let too_long = vec!["1"; 2100].join("+");
    check_error(&too_long, "the formula is 4199 bytes long; the limit is 4096 at column 4097");
}

/// The deepest formulas of each shape parse and evaluate within a 1 MiB
/// stack even unoptimised (they need about 450 KiB there, 128 KiB
/// optimised); server threads have 2 MiB.
#[test]
fn deepest_formulas_fit_a_small_stack() {
    let mut in_conditions = "a".to_owned();
    for _ in 0..32 {
        in_conditions = format!("if ({in_conditions}) > 0 {{ 1 }} else {{ 0 }}");
    }
    let sources = [
        format!("{}a{}", "(".repeat(64), ")".repeat(64)),
        format!("{}a", "-".repeat(64)),
        format!("{}a{}", "floor(".repeat(64), ")".repeat(64)),
        format!("{}a{}", "min(1, ".repeat(64), ")".repeat(64)),
        format!("{}1{}", "if a > 0 { ".repeat(64), " } else { 0 }".repeat(64)),
        in_conditions,
        format!("{}a{}", "-floor(if !(a < 0) { ".repeat(16), " } else { 0 })".repeat(16)),
        format!("{}a{}", "(".repeat(65), ")".repeat(65)),
    ];
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            for src in sources {
                if let Ok(f) = Formula::parse(&src, &INPUTS) {
                    f.evaluate(&values()).unwrap();
                }
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn reports_inputs_used() {
    let f = Formula::parse("if a > 0 { a * distance_km } else { a }", &INPUTS).unwrap();
    assert_eq!(f.inputs_used(), vec!["a".to_owned(), "distance_km".to_owned()]);
    assert_eq!(f.source(), "if a > 0 { a * distance_km } else { a }");
}
