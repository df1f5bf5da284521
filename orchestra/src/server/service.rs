//! What an [`HttpServer`](super::HttpServer) can serve, named once.

use http_body::Body;
use hyper::body::Incoming;
use hyper::{Request, Response};
use tower_service::Service;

use crate::error::BoxError;

/// A tower service an [`HttpServer`](super::HttpServer) can serve: it takes
/// hyper requests, answers with a [`ResponseBody`], can be cloned for each
/// connection and sent across threads. An alias with a blanket impl: an
/// axum `Router` and any such service implement it; never implement it by
/// hand.
///
/// ```
/// use orchestra::HttpService;
///
/// fn servable<S: HttpService>(_: &S) {}
/// servable(&axum::Router::new());
/// ```
pub trait HttpService:
    Service<
        Request<Incoming>,
        Response = Response<Self::ResponseBody>,
        Future: Send + 'static,
        Error: Into<BoxError>,
    > + Clone
    + Send
    + 'static
{
    /// The body of the service's responses.
    type ResponseBody: ResponseBody;
}

impl<S, B> HttpService for S
where
    S: Service<
            Request<Incoming>,
            Response = Response<B>,
            Future: Send + 'static,
            Error: Into<BoxError>,
        > + Clone
        + Send
        + 'static,
    B: ResponseBody,
{
    type ResponseBody = B;
}

/// A response body an [`HttpServer`](super::HttpServer) can send: an alias
/// with a blanket impl for every `http_body::Body` whose data is `Send` and
/// whose error boxes.
pub trait ResponseBody: Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}

impl<B> ResponseBody for B where B: Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}
