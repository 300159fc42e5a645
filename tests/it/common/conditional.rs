//! One conditional GET for the read-path tests: status, ETag, Cache-Control
//! and body, with an optional `If-None-Match`.

/// Status, ETag, Cache-Control and body of one GET.
pub struct Got {
    pub status: u16,
    pub etag: Option<String>,
    pub cache: Option<String>,
    pub body: Vec<u8>,
}

pub async fn get(client: &reqwest::Client, url: &str, if_none_match: Option<&str>) -> Got {
    let mut req = client.get(url);
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (status, etag, cache) = (
        resp.status().as_u16(),
        header("etag"),
        header("cache-control"),
    );
    let body = resp.bytes().await.unwrap().to_vec();
    Got {
        status,
        etag,
        cache,
        body,
    }
}
