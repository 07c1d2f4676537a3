package hsmapi

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/coffer-hsm/coffer/internal/hsm"
)

// ServerConfig configures the native API server.
type ServerConfig struct {
	NodeID string
	// AllowInitialize enables cluster/initialize (--dev servers).
	AllowInitialize bool
	Logger          *slog.Logger
	// Extensions are commands served by other components through this API (e.g.
	// "backup/create"), by command name. They may not replace built-in commands.
	Extensions map[string]Extension
}

// Extension is a command of another component served through the native API.
type Extension struct {
	// Auth: the command needs a session (passed to Fn); Roles, when set, limits it to
	// sessions of these roles.
	Auth  bool
	Roles []string
	// Fn runs the command. progress reports headway; when the client asked for a stream
	// (Accept: application/x-ndjson) every call is sent at once as a {"progress": ...}
	// line, otherwise calls are dropped. Errors may implement StatusError to choose their
	// HTTP status and type; others are mapped like HSM errors (ErrorStatus).
	Fn func(ctx context.Context, sess *hsm.Session, body []byte, progress func(any)) (any, error)
}

// StatusError is an error that chooses its native API status and type.
type StatusError interface {
	error
	NativeStatus() (status int, typ string)
}

// StreamContentType is the media type of streamed answers: one JSON object per line,
// {"progress": ...} lines, then the Response envelope.
const StreamContentType = "application/x-ndjson"

// Server serves the native API.
type Server struct {
	h   *hsm.HSM
	cfg ServerConfig
}

// NewServer returns the native API server of h.
func NewServer(h *hsm.HSM, cfg ServerConfig) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{h: h, cfg: cfg}
}

type handler struct {
	auth bool // needs a session
	fn   func(ctx context.Context, s *Server, sess *hsm.Session, token string, body []byte) (any, error)
}

// endpoint builds a handler that decodes the request into T.
func endpoint[T any](auth bool, fn func(ctx context.Context, s *Server, sess *hsm.Session, req T) (any, error)) handler {
	return handler{auth: auth, fn: func(ctx context.Context, s *Server, sess *hsm.Session, _ string, body []byte) (any, error) {
		req, err := DecodeRequest[T](body)
		if err != nil {
			return nil, err
		}
		return fn(ctx, s, sess, req)
	}}
}

// DecodeRequest decodes a request body strictly: unknown fields and trailing data are
// errors, so that a misspelt parameter is reported instead of ignored.
func DecodeRequest[T any](body []byte) (T, error) {
	var req T
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, &hsm.ValidationError{Field: "request", Reason: "malformed JSON: " + err.Error()}
	}
	if dec.More() {
		return req, &hsm.ValidationError{Field: "request", Reason: "trailing data after the JSON object"}
	}
	return req, nil
}

// commands is the explicit dispatch table of the native API.
var commands map[string]handler

func init() {
	commands = map[string]handler{
		"cluster/info":       endpoint(false, clusterInfo),
		"cluster/activate":   endpoint(false, clusterActivate),
		"cluster/initialize": endpoint(false, clusterInitialize),
		"cluster/set-policy": endpoint(true, clusterSetPolicy),
		"login":              endpoint(false, login),
		"logout":             {auth: true, fn: logout},

		"user/list":            endpoint(true, userList),
		"user/create":          endpoint(true, userCreate),
		"user/delete":          endpoint(true, userDelete),
		"user/change-password": endpoint(true, userChangePassword),
		"user/change-mfa":      endpoint(true, userChangeMFA),
		"user/change-quorum":   endpoint(true, userChangeQuorum),

		"quorum/generate":         endpoint(true, quorumGenerate),
		"quorum/list":             endpoint(true, quorumList),
		"quorum/delete":           endpoint(true, quorumDelete),
		"quorum/set-quorum-value": endpoint(true, quorumSetValue),

		"key/generate-symmetric":       endpoint(true, keyGenerateSymmetric),
		"key/generate-asymmetric-pair": endpoint(true, keyGeneratePair),
		"key/list":                     endpoint(true, keyList),
		"key/set-attribute":            endpoint(true, keySetAttribute),
		"key/delete":                   endpoint(true, keyDelete),
		"key/share":                    endpoint(true, keyShare(true)),
		"key/unshare":                  endpoint(true, keyShare(false)),
		"key/import-pem":               endpoint(true, keyImportPEM),
		"key/generate-file":            endpoint(true, keyGenerateFile),
		"key/wrap":                     endpoint(true, keyWrap),
		"key/unwrap":                   endpoint(true, keyUnwrap),
		"key/derive-ecdh":              endpoint(true, keyDerive),

		"crypto/sign":         endpoint(true, cryptoSign),
		"crypto/verify":       endpoint(true, cryptoVerify),
		"crypto/encrypt":      endpoint(true, cryptoEncrypt),
		"crypto/decrypt":      endpoint(true, cryptoDecrypt),
		"crypto/mac-generate": endpoint(true, cryptoMAC),
		"crypto/mac-verify":   endpoint(true, cryptoMACVerify),
		"crypto/random":       endpoint(true, cryptoRandom),
	}
}

// Commands lists the native API's commands (for docs and tests).
func Commands() []string {
	out := make([]string, 0, len(commands))
	for k := range commands {
		out = append(out, k)
	}
	return out
}

// ServeHTTP implements http.Handler for PathPrefix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, PathPrefix)
	hd, ok := commands[name]
	ext, isExt := s.cfg.Extensions[name]
	if !ok && isExt {
		s.serveExtension(w, r, name, ext)
		return
	}
	if !ok {
		writeError(w, http.StatusNotFound, "UnknownCommand", fmt.Sprintf("unknown command %q; see 'coffer hsm --help'", name))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "RequestTooLarge", fmt.Sprintf("request body larger than %d bytes", MaxRequestBytes))
		return
	}
	token := strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	var sess *hsm.Session
	if hd.auth {
		if sess, err = s.h.Session(token); err != nil {
			s.fail(w, name, err)
			return
		}
	}
	data, err := hd.fn(r.Context(), s, sess, token, body)
	if err != nil {
		s.fail(w, name, err)
		return
	}
	writeJSON(w, http.StatusOK, Response{ErrorCode: 0, Data: data})
}

func (s *Server) serveExtension(w http.ResponseWriter, r *http.Request, name string, ext Extension) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "RequestTooLarge", fmt.Sprintf("request body larger than %d bytes", MaxRequestBytes))
		return
	}
	var sess *hsm.Session
	if ext.Auth {
		token := strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if sess, err = s.h.Session(token); err != nil {
			s.fail(w, name, err)
			return
		}
		if len(ext.Roles) > 0 && !slices.Contains(ext.Roles, sess.Role) {
			s.fail(w, name, &hsm.PermissionError{Op: name, Reason: "needs a session of role " + strings.Join(ext.Roles, " or ")})
			return
		}
	}
	stream := strings.Contains(r.Header.Get("Accept"), StreamContentType)
	progress := func(any) {}
	var enc *json.Encoder
	if stream {
		w.Header().Set("Content-Type", StreamContentType)
		w.WriteHeader(http.StatusOK)
		enc = json.NewEncoder(w)
		rc := http.NewResponseController(w)
		progress = func(v any) {
			_ = enc.Encode(map[string]any{"progress": v})
			_ = rc.Flush()
		}
	}
	data, err := ext.Fn(r.Context(), sess, body, progress)
	if !stream {
		if err != nil {
			s.fail(w, name, err)
			return
		}
		writeJSON(w, http.StatusOK, Response{ErrorCode: 0, Data: data})
		return
	}
	if err != nil {
		status, typ := s.status(name, err)
		_ = enc.Encode(Response{ErrorCode: 1, ErrorType: typ, Data: err.Error(), Status: status})
		return
	}
	_ = enc.Encode(Response{ErrorCode: 0, Data: data})
}

func (s *Server) status(cmd string, err error) (int, string) {
	var se StatusError
	if errors.As(err, &se) {
		return se.NativeStatus()
	}
	status, typ := ErrorStatus(err)
	if status == http.StatusInternalServerError {
		s.cfg.Logger.Error("hsm api: internal error", "command", cmd, "err", err)
	}
	return status, typ
}

func (s *Server) fail(w http.ResponseWriter, cmd string, err error) {
	var se StatusError
	if errors.As(err, &se) {
		status, typ := se.NativeStatus()
		writeError(w, status, typ, err.Error())
		return
	}
	status, typ := ErrorStatus(err)
	if status == http.StatusInternalServerError {
		s.cfg.Logger.Error("hsm api: internal error", "command", cmd, "err", err)
	}
	writeError(w, status, typ, err.Error())
}

// ErrorStatus maps an HSM error to an HTTP status and an error type name. It is the one
// place where the native API decides this.
func ErrorStatus(err error) (int, string) {
	var (
		ve *hsm.ValidationError
		pe *hsm.PermissionError
		ne *hsm.NotFoundError
		ce *hsm.ConflictError
		qe *hsm.QuorumError
		me *hsm.MechanismError
	)
	switch {
	case errors.Is(err, hsm.ErrSelfTest):
		return http.StatusServiceUnavailable, "SelfTestFailed"
	case errors.Is(err, hsm.ErrZeroized):
		return http.StatusGone, "Zeroized"
	case errors.Is(err, hsm.ErrLoginFailed):
		return http.StatusUnauthorized, "LoginFailed"
	case errors.Is(err, hsm.ErrNotLoggedIn):
		return http.StatusUnauthorized, "NotLoggedIn"
	case errors.Is(err, hsm.ErrUserLocked):
		return http.StatusForbidden, "UserLocked"
	case errors.Is(err, hsm.ErrNotInitialized):
		return http.StatusConflict, "NotInitialized"
	case errors.As(err, &ve):
		return http.StatusBadRequest, "ValidationError"
	case errors.As(err, &pe):
		return http.StatusForbidden, "PermissionDenied"
	case errors.As(err, &ne):
		return http.StatusNotFound, "NotFound"
	case errors.As(err, &ce):
		return http.StatusConflict, "Conflict"
	case errors.As(err, &qe):
		return http.StatusForbidden, "QuorumRequired"
	case errors.As(err, &me):
		return http.StatusUnprocessableEntity, "MechanismError"
	}
	return http.StatusInternalServerError, "InternalError"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, Response{ErrorCode: 1, ErrorType: typ, Data: msg})
}

// ---- cluster and sessions ----

func clusterInfo(ctx context.Context, s *Server, _ *hsm.Session, _ Empty) (any, error) {
	return ClusterInfo{NodeID: s.cfg.NodeID, HSM: s.h.Status()}, nil
}

func clusterActivate(ctx context.Context, s *Server, _ *hsm.Session, req ActivateRequest) (any, error) {
	if err := s.h.Activate(ctx, req.Password); err != nil {
		return nil, err
	}
	return Message{Message: "cluster activated; log in as admin"}, nil
}

func clusterInitialize(ctx context.Context, s *Server, _ *hsm.Session, req InitializeRequest) (any, error) {
	if !s.cfg.AllowInitialize {
		return nil, &hsm.PermissionError{Op: "cluster initialize", Reason: "only --dev servers initialize through the native API; production clusters are initialized with the CloudHSMv2 API (InitializeCluster) and 'cluster activate'"}
	}
	p := hsm.DefaultPolicy()
	if req.Policy != nil {
		p = *req.Policy
	}
	if err := s.h.Initialize(ctx, p); err != nil {
		return nil, err
	}
	if err := s.h.Activate(ctx, req.AdminPassword); err != nil {
		return nil, err
	}
	return Message{Message: "cluster initialized and activated"}, nil
}

func clusterSetPolicy(ctx context.Context, s *Server, sess *hsm.Session, req SetPolicyRequest) (any, error) {
	if err := s.h.SetPolicy(ctx, sess, req.Policy); err != nil {
		return nil, err
	}
	return s.h.Policy(), nil
}

func login(ctx context.Context, s *Server, _ *hsm.Session, req hsm.LoginRequest) (any, error) {
	res, err := s.h.Login(ctx, req)
	if err != nil {
		return nil, err
	}
	return LoginResponse{Username: strings.ToLower(req.Username), Role: req.Role, Token: res.Token, Challenge: res.Challenge}, nil
}

func logout(ctx context.Context, s *Server, _ *hsm.Session, token string, _ []byte) (any, error) {
	if err := s.h.Logout(token); err != nil {
		return nil, err
	}
	return Message{Message: "logged out"}, nil
}

// ---- users ----

func userList(ctx context.Context, s *Server, sess *hsm.Session, _ Empty) (any, error) {
	users, err := s.h.ListUsers(sess)
	if err != nil {
		return nil, err
	}
	return UserList{Users: users}, nil
}

func userCreate(ctx context.Context, s *Server, sess *hsm.Session, req UserRequest) (any, error) {
	if err := s.h.CreateUser(ctx, sess, req.Username, req.Role, req.Password, req.Approval); err != nil {
		return nil, err
	}
	return map[string]string{"username": strings.ToLower(req.Username), "role": req.Role}, nil
}

func userDelete(ctx context.Context, s *Server, sess *hsm.Session, req UserRequest) (any, error) {
	if err := s.h.DeleteUser(ctx, sess, req.Username, req.Role, req.Approval); err != nil {
		return nil, err
	}
	return map[string]string{"username": strings.ToLower(req.Username), "role": req.Role}, nil
}

func userChangePassword(ctx context.Context, s *Server, sess *hsm.Session, req UserRequest) (any, error) {
	if err := s.h.ChangePassword(ctx, sess, req.Username, req.Role, req.Password, req.Approval); err != nil {
		return nil, err
	}
	return map[string]string{"username": strings.ToLower(req.Username), "role": req.Role}, nil
}

func userChangeMFA(ctx context.Context, s *Server, sess *hsm.Session, req UserRequest) (any, error) {
	enroll, err := s.h.ChangeMFA(ctx, sess, req.Username, req.Role, hsm.MFASpec{Strategy: req.Strategy, PublicKey: req.PublicKey}, req.Approval)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"username": strings.ToLower(req.Username), "role": req.Role, "strategy": req.Strategy}
	if enroll != nil {
		out["totp"] = enroll
	}
	return out, nil
}

func userChangeQuorum(ctx context.Context, s *Server, sess *hsm.Session, req UserRequest) (any, error) {
	if err := s.h.RegisterQuorumKey(ctx, sess, req.PublicKey); err != nil {
		return nil, err
	}
	return map[string]string{"username": sess.User, "strategy": "token-sign"}, nil
}

// ---- quorum ----

func quorumGenerate(ctx context.Context, s *Server, sess *hsm.Session, req QuorumRequest) (any, error) {
	var ref uint64
	if req.KeyRef != "" {
		var err error
		if ref, err = hsm.ParseKeyRef(req.KeyRef); err != nil {
			return nil, err
		}
	}
	return s.h.GenerateToken(ctx, sess, req.Service, ref)
}

func quorumList(ctx context.Context, s *Server, sess *hsm.Session, _ Empty) (any, error) {
	toks, err := s.h.ListTokens(sess)
	if err != nil {
		return nil, err
	}
	return TokenList{Tokens: toks}, nil
}

func quorumDelete(ctx context.Context, s *Server, sess *hsm.Session, req QuorumRequest) (any, error) {
	n, err := s.h.DeleteTokens(ctx, sess, req.All)
	if err != nil {
		return nil, err
	}
	return map[string]int{"deleted": n}, nil
}

func quorumSetValue(ctx context.Context, s *Server, sess *hsm.Session, req QuorumRequest) (any, error) {
	if err := s.h.SetQuorumValue(ctx, sess, req.Service, req.Value, req.Approval); err != nil {
		return nil, err
	}
	return map[string]any{"service": req.Service, "value": req.Value}, nil
}

// ---- keys ----

func attrSpec(label, id string, session bool, pairs []string) (hsm.AttrSpec, error) {
	spec, err := hsm.ParseAttrSpec(pairs)
	if err != nil {
		return spec, err
	}
	if label != "" {
		spec.Label = label
	}
	if id != "" {
		spec.ID = id
	}
	if session {
		spec.Session = true
	}
	return spec, nil
}

func (s *Server) find(sess *hsm.Session, filter []string, field string) (uint64, error) {
	if len(filter) == 0 {
		return 0, &hsm.ValidationError{Field: field, Reason: "required: attr.<name>=<value> or key-reference=<ref>"}
	}
	f, err := hsm.ParseFilter(filter)
	if err != nil {
		return 0, err
	}
	return s.h.FindKey(sess, f)
}

func keyGenerateSymmetric(ctx context.Context, s *Server, sess *hsm.Session, req GenerateSymmetricRequest) (any, error) {
	spec, err := attrSpec(req.Label, req.ID, req.Session, req.Attributes)
	if err != nil {
		return nil, err
	}
	ki, err := s.h.GenerateSymmetric(ctx, sess, hsm.GenerateSymmetricRequest{
		KeyType: req.KeyType, KeyLengthBytes: req.KeyLengthBytes, Attributes: spec,
		Quorum: hsm.KeyQuorum{Manage: req.ManageQuorum, Use: req.UseQuorum},
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"key": ki}, nil
}

func keyGeneratePair(ctx context.Context, s *Server, sess *hsm.Session, req GenerateKeyPairRequest) (any, error) {
	pub, err := attrSpec(req.PublicLabel, req.ID, req.Session, req.PublicAttributes)
	if err != nil {
		return nil, err
	}
	priv, err := attrSpec(req.PrivateLabel, req.ID, req.Session, req.PrivateAttributes)
	if err != nil {
		return nil, err
	}
	return s.h.GenerateKeyPair(ctx, sess, hsm.GenerateKeyPairRequest{
		KeyType: req.KeyType, ModulusSizeBits: req.ModulusSizeBits, PublicExponent: req.PublicExponent,
		Curve: req.Curve, PublicAttributes: pub, PrivateAttributes: priv,
		Quorum: hsm.KeyQuorum{Manage: req.ManageQuorum, Use: req.UseQuorum},
	})
}

func keyList(ctx context.Context, s *Server, sess *hsm.Session, req ListKeysRequest) (any, error) {
	f, err := hsm.ParseFilter(req.Filter)
	if err != nil {
		return nil, err
	}
	return s.h.ListKeys(sess, f, req.MaxItems, req.StartingToken, req.Verbose)
}

func keySetAttribute(ctx context.Context, s *Server, sess *hsm.Session, req KeyRequest) (any, error) {
	ref, err := s.find(sess, req.Filter, "filter")
	if err != nil {
		return nil, err
	}
	ki, err := s.h.SetAttribute(ctx, sess, ref, req.Name, req.Value, req.Approval)
	if err != nil {
		return nil, err
	}
	return map[string]any{"key": ki}, nil
}

func keyDelete(ctx context.Context, s *Server, sess *hsm.Session, req KeyRequest) (any, error) {
	ref, err := s.find(sess, req.Filter, "filter")
	if err != nil {
		return nil, err
	}
	if err := s.h.DeleteKey(ctx, sess, ref, req.Approval); err != nil {
		return nil, err
	}
	return Message{Message: "Key deleted successfully: " + hsm.FormatKeyRef(ref)}, nil
}

func keyShare(share bool) func(ctx context.Context, s *Server, sess *hsm.Session, req KeyRequest) (any, error) {
	return func(ctx context.Context, s *Server, sess *hsm.Session, req KeyRequest) (any, error) {
		ref, err := s.find(sess, req.Filter, "filter")
		if err != nil {
			return nil, err
		}
		if err := s.h.ShareKey(ctx, sess, ref, req.Username, share, req.Approval); err != nil {
			return nil, err
		}
		verb := "shared with"
		if !share {
			verb = "unshared from"
		}
		return Message{Message: fmt.Sprintf("Key %s %s %s", hsm.FormatKeyRef(ref), verb, strings.ToLower(req.Username))}, nil
	}
}

func keyImportPEM(ctx context.Context, s *Server, sess *hsm.Session, req ImportPEMRequest) (any, error) {
	spec, err := attrSpec(req.Label, req.ID, req.Session, req.Attributes)
	if err != nil {
		return nil, err
	}
	ki, err := s.h.ImportPEM(ctx, sess, req.PEM, spec)
	if err != nil {
		return nil, err
	}
	return map[string]any{"key": ki}, nil
}

func keyGenerateFile(ctx context.Context, s *Server, sess *hsm.Session, req KeyRequest) (any, error) {
	ref, err := s.find(sess, req.Filter, "filter")
	if err != nil {
		return nil, err
	}
	der, err := s.h.PublicKeyDER(sess, ref)
	if err != nil {
		return nil, err
	}
	return PublicKeyFile{KeyReference: hsm.FormatKeyRef(ref), PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}, nil
}

func keyWrap(ctx context.Context, s *Server, sess *hsm.Session, req WrapRequest) (any, error) {
	wref, err := s.find(sess, req.WrappingFilter, "wrapping_filter")
	if err != nil {
		return nil, err
	}
	pref, err := s.find(sess, req.PayloadFilter, "payload_filter")
	if err != nil {
		return nil, err
	}
	out, err := s.h.Wrap(sess, hsm.WrapRequest{WrappingKey: wref, Key: pref, Mechanism: req.Mechanism, Hash: req.HashFunction, AAD: req.AAD}, req.Approval)
	if err != nil {
		return nil, err
	}
	return WrapResponse{WrappingKeyReference: hsm.FormatKeyRef(wref), PayloadKeyReference: hsm.FormatKeyRef(pref), WrappedKeyData: out}, nil
}

func keyUnwrap(ctx context.Context, s *Server, sess *hsm.Session, req UnwrapRequest) (any, error) {
	uref, err := s.find(sess, req.UnwrappingFilter, "unwrapping_filter")
	if err != nil {
		return nil, err
	}
	spec, err := attrSpec(req.Label, req.ID, req.Session, req.Attributes)
	if err != nil {
		return nil, err
	}
	ki, err := s.h.Unwrap(ctx, sess, hsm.UnwrapRequest{
		UnwrappingKey: uref, Mechanism: req.Mechanism, Hash: req.HashFunction, AAD: req.AAD,
		Wrapped: req.WrappedKeyData, KeyType: req.KeyType, Attributes: spec,
	}, req.Approval)
	if err != nil {
		return nil, err
	}
	return map[string]any{"key": ki}, nil
}

func keyDerive(ctx context.Context, s *Server, sess *hsm.Session, req DeriveRequest) (any, error) {
	ref, err := s.find(sess, req.Filter, "filter")
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode([]byte(req.PeerPublicKey))
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, &hsm.ValidationError{Field: "peer_public_key", Reason: "must be a PEM PUBLIC KEY"}
	}
	spec, err := attrSpec(req.Label, "", req.Session, req.Attributes)
	if err != nil {
		return nil, err
	}
	ki, err := s.h.DeriveECDH(ctx, sess, hsm.DeriveRequest{PrivateKey: ref, PeerPublicKey: blk.Bytes, KeyType: req.KeyType, KeyLengthBytes: req.KeyLengthBytes, Attributes: spec})
	if err != nil {
		return nil, err
	}
	return map[string]any{"key": ki}, nil
}

// ---- crypto ----

func isDigest(dataType string) (bool, error) {
	switch dataType {
	case "", "raw":
		return false, nil
	case "digest":
		return true, nil
	}
	return false, &hsm.ValidationError{Field: "data_type", Reason: "must be raw or digest"}
}

func cryptoSign(ctx context.Context, s *Server, sess *hsm.Session, req CryptoRequest) (any, error) {
	alg, err := hsm.SignMechanism(req.Mechanism, req.HashFunction)
	if err != nil {
		return nil, err
	}
	dig, err := isDigest(req.DataType)
	if err != nil {
		return nil, err
	}
	ref, err := s.find(sess, req.Filter, "filter")
	if err != nil {
		return nil, err
	}
	sig, err := s.h.Sign(sess, ref, alg, req.Data, dig, req.Approval)
	if err != nil {
		return nil, err
	}
	return CryptoResponse{KeyReference: hsm.FormatKeyRef(ref), Signature: sig}, nil
}

func cryptoVerify(ctx context.Context, s *Server, sess *hsm.Session, req CryptoRequest) (any, error) {
	alg, err := hsm.SignMechanism(req.Mechanism, req.HashFunction)
	if err != nil {
		return nil, err
	}
	dig, err := isDigest(req.DataType)
	if err != nil {
		return nil, err
	}
	ref, err := s.find(sess, req.Filter, "filter")
	if err != nil {
		return nil, err
	}
	if err := s.h.Verify(sess, ref, alg, req.Data, dig, req.Signature); err != nil {
		return nil, err
	}
	return CryptoResponse{KeyReference: hsm.FormatKeyRef(ref), Message: "Signature verified successfully"}, nil
}

func cryptoEncrypt(ctx context.Context, s *Server, sess *hsm.Session, req CryptoRequest) (any, error) {
	ref, err := s.find(sess, req.Filter, "filter")
	if err != nil {
		return nil, err
	}
	var ct []byte
	switch req.Mechanism {
	case "aes-gcm":
		ct, err = s.h.EncryptAESGCM(sess, ref, req.Data, req.AAD, req.Approval)
	case "rsa-oaep":
		ct, err = s.h.EncryptRSAOAEP(sess, ref, req.HashFunction, req.Data, req.AAD)
	default:
		err = &hsm.ValidationError{Field: "mechanism", Reason: "must be aes-gcm or rsa-oaep, got " + fmt.Sprintf("%q", req.Mechanism)}
	}
	if err != nil {
		return nil, err
	}
	return CryptoResponse{KeyReference: hsm.FormatKeyRef(ref), Ciphertext: ct}, nil
}

func cryptoDecrypt(ctx context.Context, s *Server, sess *hsm.Session, req CryptoRequest) (any, error) {
	ref, err := s.find(sess, req.Filter, "filter")
	if err != nil {
		return nil, err
	}
	var pt []byte
	switch req.Mechanism {
	case "aes-gcm":
		pt, err = s.h.DecryptAESGCM(sess, ref, req.Data, req.AAD, req.Approval)
	case "rsa-oaep":
		pt, err = s.h.DecryptRSAOAEP(sess, ref, req.HashFunction, req.Data, req.AAD, req.Approval)
	default:
		err = &hsm.ValidationError{Field: "mechanism", Reason: "must be aes-gcm or rsa-oaep, got " + fmt.Sprintf("%q", req.Mechanism)}
	}
	if err != nil {
		return nil, err
	}
	return CryptoResponse{KeyReference: hsm.FormatKeyRef(ref), Plaintext: pt}, nil
}

func cryptoMAC(ctx context.Context, s *Server, sess *hsm.Session, req CryptoRequest) (any, error) {
	ref, err := s.find(sess, req.Filter, "filter")
	if err != nil {
		return nil, err
	}
	mac, err := s.h.MAC(sess, ref, req.HashFunction, req.Data, req.Approval)
	if err != nil {
		return nil, err
	}
	return CryptoResponse{KeyReference: hsm.FormatKeyRef(ref), MAC: mac}, nil
}

func cryptoMACVerify(ctx context.Context, s *Server, sess *hsm.Session, req CryptoRequest) (any, error) {
	ref, err := s.find(sess, req.Filter, "filter")
	if err != nil {
		return nil, err
	}
	if err := s.h.VerifyMAC(sess, ref, req.HashFunction, req.Data, req.MAC); err != nil {
		return nil, err
	}
	return CryptoResponse{KeyReference: hsm.FormatKeyRef(ref), Message: "MAC verified successfully"}, nil
}

func cryptoRandom(ctx context.Context, s *Server, sess *hsm.Session, req RandomRequest) (any, error) {
	b, err := s.h.Random(sess, req.LengthBytes)
	if err != nil {
		return nil, err
	}
	return RandomResponse{Random: b}, nil
}
