package kms

// metadataOps: aliases, tags, key policies, grants.
var metadataOps = map[string]Op{}
