// Package awsproto implements the server side of the AWS wire protocols Coffer
// speaks, so that the AWS CLI (v1/botocore and v2) and the AWS SDKs work
// against a Coffer node with --endpoint-url. It knows nothing of keys: it
// authenticates requests, routes them to operations and writes AWS-shaped
// answers.
//
// # Authentication (SigV4)
//
// [Verifier] checks AWS Signature Version 4 header authentication
// (Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=...). Query-string (presigned) authentication and the Date header
// are not supported: requests must carry X-Amz-Date and sign it, and must sign
// host. The signature is recomputed with aws-sdk-go-v2's v4.Signer over a copy
// of the request that holds only the headers the client signed, then compared
// in constant time.
//
// Headers the SDK signer never signs (User-Agent, X-Amzn-Trace-Id, Expect,
// Transfer-Encoding) are still verified when a client signed them: the copy
// stores signed headers under their lower-case names, which the SDK's ignore
// list (keyed by canonical names) does not match. Known limitation: a client
// that signs "content-length: 0" (empty body) cannot be verified, because the
// SDK signer only signs a positive content length; AWS SDKs and botocore never
// do that for JSON protocols, whose bodies are at least "{}".
//
// Temporary credentials: the [CredentialStore] returns, with the key's
// [Principal], the SessionToken the request must present. Such a request must
// carry X-Amz-Security-Token equal to it (compared in constant time) and sign
// it, and arrive before the Principal's Expires; a request with a token for a
// long-term key (empty SessionToken) is refused. A wrong, missing or unsigned
// token answers UnrecognizedClientException (query services:
// InvalidClientTokenId), an expired one ExpiredTokenException (query:
// ExpiredToken). The signed token is part of the signature recomputation. The
// returned Principal has SessionToken cleared and Temporary set, so the token
// never reaches handlers, Observe or logs.
//
// Derived signing keys are cached by the SDK signer (one entry per
// region/service per signer). The Verifier shards signers by access key and
// replaces a shard's signer when it has seen too many distinct scopes, so
// attacker-chosen regions cannot grow memory without bound; the cache is keyed
// by a fingerprint of the secret so that a rotated secret takes effect at once.
//
// # Errors
//
// Every failure is an [*Error] carrying the HTTP status and the AWS error code
// (MissingAuthenticationTokenException, IncompleteSignatureException,
// InvalidSignatureException, UnrecognizedClientException,
// UnknownOperationException, SerializationException...). Messages say what was
// wrong; they never echo secrets, request bodies or signatures (the
// Authorization header, when quoted, has its Signature redacted).
//
// # JSON protocol
//
// [Router] serves the AWS JSON 1.0/1.1 protocol for one or more
// [JSONService]s: POST with X-Amz-Target: <TargetPrefix>.<Operation>. It reads
// the body (at most MaxBodyBytes), authenticates (scope service must equal the
// service's SigningName), dispatches through the service's explicit Operations
// table and writes the handler's result with encoding/json, or
// {"__type": Code, "message": Message} on error. The Router also requires
// x-amz-target to be signed (every AWS SDK and botocore sign it), so a
// captured request cannot be replayed as another operation. Every response carries
// x-amzn-RequestId. Authentication happens before the operation is looked up,
// so unauthenticated callers learn nothing about which operations exist.
//
// Handlers decode their input with [Decode], which ignores unknown fields (as
// AWS does) and maps malformed input to SerializationException.
//
// Error mapping for handler errors: an error that is (or wraps) an [*Error] is
// written as is; otherwise the service's MapError decides; a nil MapError or a
// nil result gives 500 InternalFailure with a generic message (the underlying
// error goes to Router.InternalError, never to the client). Handler panics are
// recovered and answered the same way.
//
// # Query protocol
//
// [QueryService]s (IAM, STS), registered with [Router.AddQuery], are served by
// the same Router: a request without X-Amz-Target whose Content-Type is
// application/x-www-form-urlencoded (a GET, or a POST without Content-Type,
// with a URL query string also qualifies) is verified first, then routed to
// the query service whose SigningName is the credential scope's service.
// Parameters come from the form body and the URL query string (a parameter
// in both is refused). Action picks the operation (missing: 400
// MissingAction); an unknown Action or a Version other than the service's
// answers 400 InvalidAction "Could not find operation X for version Y", as
// AWS does (a missing Version reads NO_VERSION_SPECIFIED). Handlers parse
// Call.Body with [ParseQuery] (strict: 400 MalformedQueryString) and
// [QueryList], [QueryTags], [QueryMap]. The result is encoded with
// encoding/xml as <ActionResponse xmlns=ns><ActionResult>...</ActionResult>
// <ResponseMetadata><RequestId>id</RequestId></ResponseMetadata>
// </ActionResponse> (no ActionResult for a nil result), Content-Type
// text/xml; errors as <ErrorResponse xmlns=ns><Error><Type>Sender|Receiver
// </Type><Code/><Message/></Error><RequestId/></ErrorResponse>. SigV4
// failures use IAM's and STS's codes: MissingAuthenticationToken (403),
// IncompleteSignature (400), SignatureDoesNotMatch (403), InvalidClientTokenId
// (403), ExpiredToken (400). Handler errors are mapped as for JSON services.
//
// # Query-compatible protocols (AWS JSON 1.0 and Smithy RPC v2 CBOR)
//
// A [QueryService] with a [Model] (a botocore model, see [ParseModel]) is also
// served over the protocols of an awsQueryCompatible service: AWS JSON 1.0
// (X-Amz-Target: <targetPrefix>.<Action>) and Smithy RPC v2 CBOR (POST
// /service/<targetPrefix>/operation/<Action>, answers with smithy-protocol:
// rpc-v2-cbor). The request is verified (scope service = SigningName; a JSON
// request must sign X-Amz-Target), gunzipped when Content-Encoding: gzip,
// decoded, and transcoded by the operation's input shape into the query form
// (Call.Body, with Action and Version) that the same Operations handler parses;
// its result, encoded as the query protocol's XML, is read back by the output
// shape into JSON (timestamps: epoch seconds) or CBOR (tag 1). Errors are
// {"__type": <error shape>, "message"} (CBOR: the same map) with
// x-amzn-query-error: <query code>;Sender|Receiver, and the query protocol's
// status and codes (SigV4 failures as for query services). An operation that
// is not in both the model and Operations answers 400 UnknownOperationException;
// a member of the wrong type 400 SerializationException. Record and Observe see
// the query code and the transcoded form, as for a query request.
//
// # Observation
//
// Router.Observe, when set, is called once per request, accepted or refused,
// with the decoded [Call] (as far as it got), the status and the error code
// and message. It runs synchronously on the request goroutine; keep it cheap.
package awsproto
