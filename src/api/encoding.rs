//! Content codings of answers: which one a request prefers (`Accept-Encoding`), and compressing
//! a body once with it. The server offers brotli, zstd and gzip; answers under
//! [`MIN_COMPRESSED_BYTES`] go as they are, since compressing them saves less than it costs.

use std::io::Write as _;

use axum::http::{HeaderMap, HeaderValue, header};

/// Answers smaller than this are not compressed.
pub const MIN_COMPRESSED_BYTES: usize = 1024;

/// A content coding the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Zstd,
    Gzip,
}

impl Encoding {
    /// In the server's order of preference, for codings a request accepts equally.
    pub const ALL: [Encoding; 3] = [Encoding::Brotli, Encoding::Zstd, Encoding::Gzip];

    pub fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
            Encoding::Gzip => "gzip",
        }
    }

    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.token())
    }

    /// The coding a request prefers among those offered, `None` for none (identity).
    pub fn preferred(request: &HeaderMap) -> Option<Encoding> {
        let mut best: Option<(f32, Encoding)> = None;
        for value in request.get_all(header::ACCEPT_ENCODING) {
            let Ok(value) = value.to_str() else { continue };
            for item in value.split(',') {
                let mut parts = item.split(';');
                let name = parts.next().unwrap_or_default().trim();
                let quality = parts
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                if quality <= 0.0 {
                    continue;
                }
                let offered: &[Encoding] = if name == "*" {
                    &Encoding::ALL[..1]
                } else {
                    match Encoding::ALL
                        .iter()
                        .position(|e| e.token().eq_ignore_ascii_case(name))
                    {
                        Some(at) => &Encoding::ALL[at..=at],
                        None => &[],
                    }
                };
                for &encoding in offered {
                    let rank = |e: Encoding| Encoding::ALL.iter().position(|x| *x == e);
                    let better = match best {
                        None => true,
                        Some((q, current)) => {
                            quality > q || (quality == q && rank(encoding) < rank(current))
                        }
                    };
                    if better {
                        best = Some((quality, encoding));
                    }
                }
            }
        }
        best.map(|(_, encoding)| encoding)
    }

    /// `body` compressed with this coding (at a level that suits bodies compressed once and
    /// sent many times).
    pub fn compress(self, body: &[u8]) -> Vec<u8> {
        crate::telemetry::metrics::body_compressed(self.token());
        match self {
            Encoding::Brotli => {
                let mut out = Vec::with_capacity(body.len() / 8);
                let params = brotli::enc::BrotliEncoderParams {
                    quality: 6,
                    ..Default::default()
                };
                let mut input = body;
                // Writing to a Vec cannot fail.
                let _ = brotli::BrotliCompress(&mut input, &mut out, &params);
                out
            }
            Encoding::Zstd => zstd::bulk::compress(body, 6).unwrap_or_default(),
            Encoding::Gzip => {
                let mut encoder = flate2::write::GzEncoder::new(
                    Vec::with_capacity(body.len() / 8),
                    flate2::Compression::new(6),
                );
                let _ = encoder.write_all(body);
                encoder.finish().unwrap_or_default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preferred(accept: &str) -> Option<Encoding> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, accept.parse().unwrap());
        Encoding::preferred(&headers)
    }

    #[test]
    fn the_request_s_preference_wins_and_the_server_s_breaks_ties() {
        assert_eq!(preferred("gzip, deflate, br"), Some(Encoding::Brotli));
        assert_eq!(preferred("gzip;q=1, br;q=0.5"), Some(Encoding::Gzip));
        assert_eq!(preferred("zstd, gzip"), Some(Encoding::Zstd));
        assert_eq!(preferred("br;q=0, gzip"), Some(Encoding::Gzip));
        assert_eq!(preferred("identity"), None);
        assert_eq!(preferred("deflate"), None);
        assert_eq!(preferred("*"), Some(Encoding::Brotli));
        assert_eq!(Encoding::preferred(&HeaderMap::new()), None);
    }

    #[test]
    fn what_is_compressed_decompresses_to_itself() {
        let body = br#"{"status":"success"}"#.repeat(100);
        let gzip = Encoding::Gzip.compress(&body);
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut back)
            .unwrap();
        assert_eq!(back, body);
        assert_eq!(
            zstd::bulk::decompress(&Encoding::Zstd.compress(&body), 1 << 20).unwrap(),
            body
        );
        let br = Encoding::Brotli.compress(&body);
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut back).unwrap();
        assert_eq!(back, body);
    }
}
