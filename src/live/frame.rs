//! The frames a socket's reader and writer deal in, independent of the WebSocket library, so
//! that both can be driven through in-memory channels in tests. [`super::serve`] adapts a real
//! WebSocket to them.

use crate::protocol::close::Close;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};

#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Text(Utf8Bytes),
    Binary,
    Ping,
    Pong,
    /// A close frame: its code and reason, or none.
    Close(Option<(u16, Utf8Bytes)>),
}

impl Frame {
    pub fn text(text: impl Into<String>) -> Self {
        Frame::Text(text.into().into())
    }

    /// A frame shared with the session's other watchers, without copying it.
    pub fn shared(text: Arc<str>) -> Self {
        struct Owner(Arc<str>);
        impl AsRef<[u8]> for Owner {
            fn as_ref(&self) -> &[u8] {
                self.0.as_bytes()
            }
        }
        match Utf8Bytes::try_from(Bytes::from_owner(Owner(text))) {
            Ok(text) => Frame::Text(text),
            // A `str` is UTF-8: this arm is never taken.
            Err(_) => Frame::Binary,
        }
    }

    pub fn close(close: Close) -> Self {
        Frame::Close(Some((close.code(), Utf8Bytes::from_static(close.reason()))))
    }
}

/// Why reading a frame failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// The peer sent a frame over the size limit.
    TooBig,
    /// The connection failed.
    Broken,
}

impl From<Message> for Frame {
    fn from(message: Message) -> Self {
        match message {
            Message::Text(text) => Frame::Text(text),
            Message::Binary(_) => Frame::Binary,
            Message::Ping(_) => Frame::Ping,
            Message::Pong(_) => Frame::Pong,
            Message::Close(close) => Frame::Close(close.map(|c| (c.code, c.reason))),
        }
    }
}

impl From<Frame> for Message {
    fn from(frame: Frame) -> Self {
        match frame {
            Frame::Text(text) => Message::Text(text),
            Frame::Binary => Message::Binary(Bytes::new()),
            Frame::Ping => Message::Ping(Bytes::new()),
            Frame::Pong => Message::Pong(Bytes::new()),
            Frame::Close(close) => {
                Message::Close(close.map(|(code, reason)| CloseFrame { code, reason }))
            }
        }
    }
}

impl From<axum::Error> for ReadError {
    fn from(err: axum::Error) -> Self {
        use std::error::Error as _;
        let mut source: Option<&(dyn std::error::Error + 'static)> = err.source();
        while let Some(cause) = source {
            if let Some(ws) = cause.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
                return match ws {
                    tokio_tungstenite::tungstenite::Error::Capacity(_) => ReadError::TooBig,
                    _ => ReadError::Broken,
                };
            }
            source = cause.source();
        }
        ReadError::Broken
    }
}
