package kms

import "context"

// customKeyStoreOps are the six custom key store operations. Custom key stores arrive with
// the CloudHSMv2 issue; until then no store exists, and each operation answers as AWS does
// for an unknown store (CustomKeyStoreNotFoundException), or with an empty list.
var customKeyStoreOps = map[string]Op{
	"CreateCustomKeyStore":     op((*Service).CreateCustomKeyStore),
	"ConnectCustomKeyStore":    op(customKeyStoreNotFound),
	"DisconnectCustomKeyStore": op(customKeyStoreNotFound),
	"UpdateCustomKeyStore":     op(customKeyStoreNotFound),
	"DeleteCustomKeyStore":     op(customKeyStoreNotFound),
	"DescribeCustomKeyStores":  op((*Service).DescribeCustomKeyStores),
}

// CustomKeyStoreInput is the request of the custom key store operations (the fields used so far).
type CustomKeyStoreInput struct {
	CustomKeyStoreId   string `json:"CustomKeyStoreId"`
	CustomKeyStoreName string `json:"CustomKeyStoreName"`
	CloudHsmClusterId  string `json:"CloudHsmClusterId"`
	CustomKeyStoreType string `json:"CustomKeyStoreType"`
	Limit              *int   `json:"Limit"`
	Marker             string `json:"Marker"`
}

func customKeyStoreNotFound(s *Service, ctx context.Context, c Caller, in CustomKeyStoreInput) (struct{}, error) {
	if in.CustomKeyStoreId == "" {
		return struct{}{}, validation("1 validation error detected: Value null at 'customKeyStoreId' failed to satisfy constraint: Member must not be null")
	}
	return struct{}{}, kmsErr("CustomKeyStoreNotFoundException", "Custom key store %s does not exist in %s", in.CustomKeyStoreId, c.Region)
}

// CreateCustomKeyStore needs a CloudHSM cluster; none exists until the CloudHSMv2 API does.
func (s *Service) CreateCustomKeyStore(ctx context.Context, c Caller, in CustomKeyStoreInput) (struct{}, error) {
	if in.CustomKeyStoreName == "" {
		return struct{}{}, validation("1 validation error detected: Value null at 'customKeyStoreName' failed to satisfy constraint: Member must not be null")
	}
	if in.CustomKeyStoreType == "EXTERNAL_KEY_STORE" {
		return struct{}{}, kmsErr("UnsupportedOperationException", "external key stores are not supported by Coffer")
	}
	return struct{}{}, kmsErr("CloudHsmClusterNotFoundException", "CloudHSM cluster %q does not exist", in.CloudHsmClusterId)
}

// DescribeCustomKeyStoresOutput is DescribeCustomKeyStores's response.
type DescribeCustomKeyStoresOutput struct {
	CustomKeyStores []struct{} `json:"CustomKeyStores"`
	Truncated       bool       `json:"Truncated"`
}

// DescribeCustomKeyStores lists custom key stores (none yet); a named store is not found.
func (s *Service) DescribeCustomKeyStores(ctx context.Context, c Caller, in CustomKeyStoreInput) (*DescribeCustomKeyStoresOutput, error) {
	if in.CustomKeyStoreId != "" || in.CustomKeyStoreName != "" {
		return nil, kmsErr("CustomKeyStoreNotFoundException", "Custom key store %s%s does not exist", in.CustomKeyStoreId, in.CustomKeyStoreName)
	}
	if _, err := limit(in.Limit, 100, 1000); err != nil {
		return nil, err
	}
	return &DescribeCustomKeyStoresOutput{CustomKeyStores: []struct{}{}}, nil
}
