//! Request parameters of the Prometheus API: repeated keys (`match[]`) from the
//! query string and a form body, merged the way Go's `ParseForm` does.

use std::collections::BTreeMap;

/// Parameter name → every value given, form body first, then query string.
pub(crate) type Params = BTreeMap<String, Vec<String>>;

/// The query string's pairs, decoded as a form body is (`+` is a space, `%XX`
/// a byte, a malformed escape kept as written, invalid UTF-8 replaced), as
/// Go's `ParseQuery` and `serde_urlencoded` read them. An extractor that
/// cannot fail, lighter than `Query<Vec<(String, String)>>`.
pub(crate) struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for QueryPairs {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(QueryPairs(
            parts
                .uri
                .query()
                .map(|q| crate::prometheus::form_pairs(q.as_bytes()))
                .unwrap_or_default(),
        ))
    }
}

/// Merges a form body (if any) and query-string pairs.
pub(crate) fn collect(q: Vec<(String, String)>, form: Option<&[u8]>) -> Params {
    let mut m: Params = BTreeMap::new();
    if let Some(f) = form {
        for (k, v) in crate::prometheus::form_pairs(f) {
            m.entry(k).or_default().push(v);
        }
    }
    for (k, v) in q {
        m.entry(k).or_default().push(v);
    }
    m
}

/// The first non-empty value of `k`.
pub(crate) fn first<'a>(m: &'a Params, k: &str) -> Option<&'a str> {
    m.get(k)
        .and_then(|v| v.first())
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_and_query_merge() {
        let p = super::collect(
            vec![("start".into(), "2".into())],
            Some(b"match%5B%5D=up%7Bjob%3D%22a%22%7D&match[]=x&start=1"),
        );
        assert_eq!(
            p["match[]"],
            vec!["up{job=\"a\"}".to_string(), "x".to_string()]
        );
        assert_eq!(p["start"], vec!["1".to_string(), "2".to_string()]);
        assert_eq!(super::first(&p, "start"), Some("1"));
    }
}
