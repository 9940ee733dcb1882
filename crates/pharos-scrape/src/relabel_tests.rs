//! Table-driven tests of relabeling: every action, template expansion and the
//! validation messages, after the examples in Prometheus's documentation.

use super::*;

fn rules(yaml: &str) -> Vec<RelabelConfig> {
    serde_yaml::from_str(yaml).unwrap()
}

fn ls(p: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(p)
}

struct Case {
    name: &'static str,
    input: &'static [(&'static str, &'static str)],
    rules: &'static str,
    output: Option<&'static [(&'static str, &'static str)]>,
}

const ABC: &[(&str, &str)] = &[("a", "foo"), ("b", "bar"), ("c", "baz")];

const CASES: &[Case] = &[
    Case {
        name: "replace with group",
        input: &[("a", "foo")],
        rules: "- {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}",
        output: Some(&[("a", "foo"), ("d", "choo-choo")]),
    },
    Case {
        name: "replace joins sources with separator",
        input: ABC,
        rules: "- {source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, replacement: 'b${1}${2}m'}\n\
                - {source_labels: [c, a], regex: '(b).*b(.*)ba(.*)', target_label: d, replacement: '$1$2$2$3'}",
        output: Some(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]),
    },
    Case {
        name: "replace does nothing when regex does not match",
        input: ABC,
        rules: "- {source_labels: [a], regex: 'x(.*)', target_label: d}",
        output: Some(ABC),
    },
    Case {
        name: "replace with empty result deletes the target",
        input: ABC,
        rules: "- {source_labels: [a], regex: '(f).*', target_label: b, replacement: '${2}'}",
        output: Some(&[("a", "foo"), ("c", "baz")]),
    },
    Case {
        name: "replace default regex copies a label",
        input: ABC,
        rules: "- {source_labels: [c], target_label: d}",
        output: Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "baz")]),
    },
    Case {
        name: "replace with templated target label",
        input: &[("a", "some-name-value")],
        rules: "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${1}', replacement: '${2}'}",
        output: Some(&[("a", "some-name-value"), ("name", "value")]),
    },
    Case {
        name: "replace with invalid templated target label leaves the set",
        input: &[("a", "some-1name-value")],
        rules: "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${1}', replacement: '${2}'}",
        output: Some(&[("a", "some-1name-value")]),
    },
    Case {
        name: "replace with named group and $$",
        input: &[("a", "foo")],
        rules: "- {source_labels: [a], regex: '(?P<x>f)(o+)', target_label: d, replacement: '$$${x}$2'}",
        output: Some(&[("a", "foo"), ("d", "$foo")]),
    },
    Case {
        name: "go expansion: $1x names group 1x, which is empty",
        input: &[("a", "foo")],
        rules: "- {source_labels: [a], regex: '(f)oo', target_label: d, replacement: '$1x-${1}x'}",
        output: Some(&[("a", "foo"), ("d", "-fx")]),
    },
    Case {
        name: "regex is anchored",
        input: &[("a", "foo")],
        rules: "- {source_labels: [a], regex: 'o', action: drop}",
        output: Some(&[("a", "foo")]),
    },
    Case {
        name: "drop on match",
        input: ABC,
        rules: "- {source_labels: [a], regex: '.*o.*', action: drop}",
        output: None,
    },
    Case {
        name: "drop on absent label matching empty",
        input: ABC,
        rules: "- {source_labels: [zzz], regex: '', action: drop}",
        output: None,
    },
    Case {
        name: "keep on match",
        input: ABC,
        rules: "- {source_labels: [a], regex: 'f.*', action: keep}",
        output: Some(ABC),
    },
    Case {
        name: "keep drops a non-match",
        input: ABC,
        rules: "- {source_labels: [a], regex: 'no-match', action: keep}",
        output: None,
    },
    Case {
        name: "keep is case-insensitive action name",
        input: ABC,
        rules: "- {source_labels: [a], regex: 'no-match', action: KEEP}",
        output: None,
    },
    Case {
        name: "hashmod takes the lower 8 md5 bytes",
        input: ABC,
        rules: "- {source_labels: [c], target_label: d, modulus: 1000, action: hashmod}",
        output: Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")]),
    },
    Case {
        name: "hashmod then keep shards targets",
        input: &[("__address__", "foo")],
        rules: "- {source_labels: [__address__], target_label: __tmp_hash, modulus: 8, action: hashmod}\n\
                - {source_labels: [__tmp_hash], regex: '^0$', action: keep}",
        output: Some(&[("__address__", "foo"), ("__tmp_hash", "0")]),
    },
    Case {
        name: "labelmap copies meta labels",
        input: &[("__meta_my_bar", "aaa"), ("__meta_my_baz", "bbb"), ("__meta_other", "ccc")],
        rules: "- {regex: '__meta_my_(.+)', replacement: '${1}', action: labelmap}",
        output: Some(&[
            ("__meta_my_bar", "aaa"),
            ("__meta_my_baz", "bbb"),
            ("__meta_other", "ccc"),
            ("bar", "aaa"),
            ("baz", "bbb"),
        ]),
    },
    Case {
        name: "labelmap with templated prefix",
        input: &[("a", "foo"), ("b", "bar")],
        rules: "- {regex: '(a)', replacement: 'x_${1}', action: labelmap}",
        output: Some(&[("a", "foo"), ("b", "bar"), ("x_a", "foo")]),
    },
    Case {
        name: "labeldrop",
        input: ABC,
        rules: "- {regex: '(b|c)', action: labeldrop}",
        output: Some(&[("a", "foo")]),
    },
    Case {
        name: "labelkeep",
        input: ABC,
        rules: "- {regex: '(b|c)', action: labelkeep}",
        output: Some(&[("b", "bar"), ("c", "baz")]),
    },
    Case {
        name: "lowercase",
        input: &[("foo", "BAR"), ("baz", "QuX")],
        rules: "- {source_labels: [foo, baz], separator: '-', target_label: low, action: lowercase}",
        output: Some(&[("baz", "QuX"), ("foo", "BAR"), ("low", "bar-qux")]),
    },
    Case {
        name: "uppercase",
        input: &[("foo", "bar")],
        rules: "- {source_labels: [foo], target_label: up, action: uppercase}",
        output: Some(&[("foo", "bar"), ("up", "BAR")]),
    },
    Case {
        name: "keepequal keeps equal",
        input: &[("a", "x"), ("b", "x")],
        rules: "- {source_labels: [a], target_label: b, action: keepequal}",
        output: Some(&[("a", "x"), ("b", "x")]),
    },
    Case {
        name: "keepequal drops unequal",
        input: &[("a", "x"), ("b", "y")],
        rules: "- {source_labels: [a], target_label: b, action: keepequal}",
        output: None,
    },
    Case {
        name: "dropequal drops equal",
        input: &[("a", "x"), ("b", "x")],
        rules: "- {source_labels: [a], target_label: b, action: dropequal}",
        output: None,
    },
    Case {
        name: "dropequal keeps unequal",
        input: &[("a", "x"), ("b", "y")],
        rules: "- {source_labels: [a], target_label: b, action: dropequal}",
        output: Some(&[("a", "x"), ("b", "y")]),
    },
    Case {
        name: "numeric replacement is read as a string",
        input: &[("a", "foo")],
        rules: "- {source_labels: [a], target_label: port, replacement: 9100}",
        output: Some(&[("a", "foo"), ("port", "9100")]),
    },
];

#[test]
fn table() {
    for c in CASES {
        let got = process(&ls(c.input), &rules(c.rules));
        assert_eq!(got, c.output.map(ls), "case {:?}", c.name);
    }
}

#[test]
fn validation_messages() {
    let cases: &[(&str, &str)] = &[
        ("{action: hashmod, target_label: a}", "relabel configuration for hashmod requires non-zero modulus"),
        ("{action: replace, target_label: ''}", "relabel configuration for replace action requires 'target_label' value"),
        ("{action: lowercase}", "relabel configuration for lowercase action requires 'target_label' value"),
        ("{action: keepequal}", "relabel configuration for keepequal action requires 'target_label' value"),
        ("{action: replace, target_label: '0a'}", "\"0a\" is invalid 'target_label' for replace action"),
        ("{action: uppercase, target_label: a, replacement: x}", "'replacement' can not be set for uppercase action"),
        ("{action: labelmap, replacement: 'a-b'}", "\"a-b\" is invalid 'replacement' for labelmap action"),
        ("{action: hashmod, modulus: 2, target_label: '${1}'}", "\"${1}\" is invalid 'target_label' for hashmod action"),
        ("{action: dropequal, target_label: a, regex: x}", "dropequal action requires only 'source_labels' and `target_label`, and no other fields"),
        ("{action: labeldrop, source_labels: [a]}", "labeldrop action requires only 'regex', and no other fields"),
        ("{action: labelkeep, target_label: a}", "labelkeep action requires only 'regex', and no other fields"),
        ("{action: foo}", "unknown relabel action \"foo\""),
        ("{source_labels: ['a-b'], target_label: x}", "\"a-b\" is not a valid label name"),
        ("{target_label: x, regex: '('}", "invalid regex"),
        ("{target_label: x, bogus: 1}", "unknown field `bogus`"),
    ];
    for (yaml, want) in cases {
        let err = serde_yaml::from_str::<RelabelConfig>(yaml)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{yaml}: got {err:?}, want {want:?}");
    }
    // Explicit defaults are allowed where only defaults are.
    serde_yaml::from_str::<RelabelConfig>("{action: labeldrop, regex: x, separator: ';'}").unwrap();
}

#[test]
fn defaults_and_roundtrip() {
    let c: RelabelConfig = serde_yaml::from_str("{target_label: x}").unwrap();
    assert_eq!(c.action, Action::Replace);
    assert_eq!(c.separator, ";");
    assert_eq!(c.regex.as_str(), "(.*)");
    assert_eq!(c.replacement, "$1");
    let y = serde_yaml::to_string(&c).unwrap();
    assert!(y.contains("action: replace"), "{y}");
    assert!(y.contains("regex: (.*)"), "{y}");
}

#[test]
fn expand_edge_cases() {
    let re = Regex::new("^(?:(?P<first>a)(b)?)$").unwrap();
    let caps = re.captures("a").unwrap();
    let e = |t: &str| expand(&re, &caps, t);
    assert_eq!(e("$1"), "a");
    assert_eq!(e("${first}"), "a");
    assert_eq!(e("$first"), "a");
    assert_eq!(e("$2"), "");
    assert_eq!(e("$9"), "");
    assert_eq!(e("$01"), "");
    assert_eq!(e("${1"), "${1");
    assert_eq!(e("$-"), "$-");
    assert_eq!(e("x$"), "x$");
    assert_eq!(e("$$1"), "$1");
    assert_eq!(e("${1}.${first}"), "a.a");
}
