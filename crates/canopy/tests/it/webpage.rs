//! A browser without JavaScript, for the web app's tests over HTTP: it keeps
//! cookies, does not follow redirects, and fills forms with their form token.

use std::collections::HashMap;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::StatusCode;

use crate::harness::*;

/// A browser without JavaScript: it keeps cookies, does not follow redirects.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    /// Its cookies, by name.
    pub cookies: HashMap<String, String>,
    accept_language: &'static str,
}

/// A page as the browser got it.
#[derive(Debug)]
pub struct Page {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The HTML.
    pub html: String,
}

impl Page {
    /// The form token of the page's first form.
    pub fn csrf(&self) -> String {
        let at = self.html.find(r#"name="csrf" value=""#).unwrap_or_else(|| panic!("no form token: {}", self.html));
        let rest = &self.html[at + r#"name="csrf" value=""#.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    /// Where a redirect goes.
    pub fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// The cookies it sets.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }
}

impl Browser {
    /// A browser that asks for `accept_language`.
    pub fn new(server: &TestServer, accept_language: &'static str) -> Browser {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { base: server.base.clone(), client, cookies: HashMap::new(), accept_language }
    }

    /// A browser signed in as `citizen` (the web app's session cookie holds the API's session token).
    pub fn signed_in(server: &TestServer, citizen: &Citizen, accept_language: &'static str) -> Browser {
        let mut browser = Browser::new(server, accept_language);
        browser.cookies.insert("canopy_session".to_owned(), citizen.token.clone());
        browser
    }

    fn cookie_header(&self) -> HeaderValue {
        let text = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        HeaderValue::from_str(&text).unwrap()
    }

    async fn finish(&mut self, response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers.get_all("set-cookie") {
            let text = set.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page { status, headers, html: response.text().await.unwrap() }
    }

    /// GETs `path`.
    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("accept-language", self.accept_language)
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    /// POSTs `fields` to `path` as a form, without a form token unless given.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("accept-language", self.accept_language)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    /// Fills the form at `path` (its token included) and posts it to `action`
    /// as `multipart/form-data`, as a browser sends a form with a file:
    /// `fields`, then `file` (field name, file name, content).
    pub async fn upload(
        &mut self,
        path: &str,
        action: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &str),
    ) -> Page {
        let csrf = self.get(path).await.csrf();
        let boundary = "----canopy-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = String::new();
        for (name, value) in [("csrf", csrf.as_str())].iter().chain(fields) {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        let (name, file_name, content) = file;
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: application/toml\r\n\r\n{content}\r\n--{boundary}--\r\n"
        ));
        let response = self
            .client
            .post(format!("{}{action}", self.base))
            .header("cookie", self.cookie_header())
            .header("accept-language", self.accept_language)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    /// Fills the form at `path` (its token included) and posts it to `action`.
    pub async fn submit(&mut self, path: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(path).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }
}
