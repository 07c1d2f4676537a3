package kms

// asymmetricOps: Sign, Verify, GetPublicKey, GenerateMac, VerifyMac, DeriveSharedSecret,
// GenerateDataKeyPair(WithoutPlaintext).
var asymmetricOps = map[string]Op{}
