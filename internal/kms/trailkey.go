package kms

import "strings"

// KeyARN gives the ARN of the key that keyID (a key ID, key ARN, alias name or alias ARN)
// names for a caller of region and account, as CloudTrail records a KMS request's
// resource: an alias is recorded as the key it points to. ok is false when keyID names no
// key of that account.
func (s *Service) KeyARN(region, account, keyID string) (arn string, ok bool) {
	if !strings.Contains(keyID, "alias/") {
		if strings.HasPrefix(keyID, "arn:") {
			return keyID, true
		}
		return keyARN(region, account, keyID), true
	}
	k, _, err := s.resolve(Caller{Region: region, Account: account}, keyID)
	if err != nil || k.Account != account {
		return "", false
	}
	return k.arn(), true
}
