// Package iam is Coffer's AWS IAM and STS services: users, roles, groups, access keys,
// customer managed policies (with versions) and AWS managed policies, inline policies,
// attachments, permissions boundaries, tags and virtual MFA devices (IAM, API version
// 2010-05-08), and GetCallerIdentity, GetSessionToken, AssumeRole and GetFederationToken
// (STS, 2011-06-15). Both speak AWS's query protocol: an Op gets the form-encoded request
// body and returns a struct whose XML encoding is the content of <ActionResult> (nil: no
// result element).
//
// # State
//
// Everything is the "iam" part of the replicated state (internal/state). Mutations are
// commands whose Apply re-checks their preconditions (existence, quotas, the default policy
// version, delete conflicts, MFA code replay) against the state under the part's lock, so
// that concurrent operations on different nodes stay consistent without read-modify-write
// retries. Ids, secrets, timestamps and TOTP steps are chosen by the proposer and carried in
// the commands; Apply uses no clock and no randomness.
//
// # Secrets
//
// Secret access keys must be usable for SigV4, so they cannot be hashed: like Vault, the
// replicated state holds IAM secrets (secret access keys of users and of temporary
// credentials, and virtual MFA seeds). When Config.SecretsKey is set they are encrypted
// with AES-256-GCM under it (AAD: the access key id or the MFA serial number) before they
// are proposed, so the raft log, snapshots and backups carry only ciphertext; without it
// they are stored as they are, protected only by the permissions of the data directory.
// Session tokens are stored as they are (a token is useless without its secret).
//
// # Credentials
//
// Service.Lookup implements awsproto.CredentialStore for every request: Active long-term
// keys of IAM users (AKIA...), unexpired temporary credentials (ASIA...; SessionInfo gives
// their session token, expiry, MFA context and session tags), then Config.Root. Expired
// temporary credentials are found, with their expiry, until PurgeExpiredSessions removes
// them from the state: the request verifier answers ExpiredToken for them, as AWS does.
//
// # Authorization helpers
//
// RequestPolicies (the identity policies of IdentityPolicies, the permissions boundary of
// the user or role as policy.BoundaryLayer, then the session policies of temporary
// credentials as policy.SessionLayer) and PrincipalTags feed the request
// authorizer (internal/iam/policy); PolicySource gives them to KMS. Operations here do not
// check the caller's permissions themselves, except AssumeRole, which evaluates the role's
// trust policy: a statement naming the caller suffices; one naming only the caller's
// account also requires the caller's policies to allow sts:AssumeRole (and sts:TagSession
// when session tags are passed). AssumeRole's session policies (Policy, PolicyArns) are
// stored with the session; managed ones are read at each decision.
//
// # MFA
//
// Virtual MFA devices use RFC 6238 TOTP (SHA-1, 6 digits, 30 s). EnableMFADevice wants two
// consecutive codes; GetSessionToken and AssumeRole accept a code of the current step ±1.
// The step of every accepted code is recorded on the device and a code of that step or an
// earlier one is refused (replay guard), atomically with the session it creates.
// CreateVirtualMFADevice returns Base32StringSeed but no QRCodePNG (not implemented; the
// seed, or an otpauth:// URI built from it, provisions any authenticator).
//
// # AWS managed policies
//
// AdministratorAccess, PowerUserAccess, AWSKeyManagementServicePowerUser,
// AWSCloudHSMFullAccess, AWSCloudHSMReadOnlyAccess and ReadOnlyAccess exist in every account
// (managed.go). Their documents are AWS's, except ReadOnlyAccess: AWS's document grants
// read actions of hundreds of services; Coffer's is a subset limited to the services it
// implements (cloudhsm:Describe*/Get*/List*, iam:Generate*/Get*/List*/Simulate*,
// kms:Describe*/Get*/List*, sts:GetCallerIdentity, sts:GetSessionToken).
package iam
