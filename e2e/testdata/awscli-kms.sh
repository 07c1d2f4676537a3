#!/usr/bin/env bash
# Drives Coffer's KMS API with an AWS CLI and prints one normalized line per step (no
# key ids, no random bytes), so that two CLIs' outputs can be compared line by line.
# Environment: AWS_CLI (the aws binary), COFFER_ENDPOINT, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY. Used by e2e/awscli_test.go.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
aws() { "$AWS_CLI" --endpoint-url "$COFFER_ENDPOINT" --output json "$@"; }
q() { aws "$@" --output text; }

key=$(q kms create-key --description "cli test" --tags TagKey=team,TagValue=cli --query KeyMetadata.KeyId)
echo "create-key: $(q kms describe-key --key-id "$key" --query '[KeyMetadata.KeyState,KeyMetadata.KeySpec,KeyMetadata.KeyUsage,KeyMetadata.Description]')"

printf 'hello from the aws cli' > "$tmp/plain"
q kms encrypt --key-id "$key" --plaintext "fileb://$tmp/plain" --encryption-context purpose=cli --query CiphertextBlob | base64 -d > "$tmp/ct"
q kms decrypt --ciphertext-blob "fileb://$tmp/ct" --encryption-context purpose=cli --query Plaintext | base64 -d > "$tmp/out"
cmp -s "$tmp/plain" "$tmp/out" && echo "encrypt/decrypt: round trip ok"
if aws kms decrypt --ciphertext-blob "fileb://$tmp/ct" --encryption-context purpose=other > /dev/null 2> "$tmp/err"; then
  echo "decrypt with the wrong context: UNEXPECTED SUCCESS"
else
  echo "decrypt with the wrong context: $(grep -o 'InvalidCiphertextException' "$tmp/err" | head -1)"
fi

dk=$(q kms generate-data-key --key-id "$key" --key-spec AES_256 --query Plaintext)
echo "generate-data-key: $(printf '%s' "$dk" | base64 -d | wc -c | tr -d ' ') bytes"

sk=$(q kms create-key --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY --query KeyMetadata.KeyId)
q kms sign --key-id "$sk" --message "fileb://$tmp/plain" --message-type RAW --signing-algorithm ECDSA_SHA_256 --query Signature | base64 -d > "$tmp/sig"
echo "sign/verify: $(q kms verify --key-id "$sk" --message "fileb://$tmp/plain" --message-type RAW --signing-algorithm ECDSA_SHA_256 --signature "fileb://$tmp/sig" --query SignatureValid)"
q kms get-public-key --key-id "$sk" --query PublicKey | base64 -d > "$tmp/pub.der"
if command -v openssl > /dev/null; then
  openssl dgst -sha256 -keyform DER -verify "$tmp/pub.der" -signature "$tmp/sig" "$tmp/plain" | sed 's/^/openssl: /'
fi

aws kms tag-resource --key-id "$key" --tags TagKey=Environment,TagValue=Production
echo "tag-resource: $(q kms list-resource-tags --key-id "$key" --query 'Tags[?TagKey==`Environment`].TagValue | [0]')"
echo "list-keys: $(q kms list-keys --query 'length(Keys)')"
alias="alias/cli-test-$RANDOM$RANDOM"
aws kms create-alias --alias-name "$alias" --target-key-id "$key"
[ "$(q kms list-aliases --key-id "$key" --query 'Aliases[0].AliasName')" = "$alias" ] && echo "list-aliases: alias found"

aws kms enable-key-rotation --key-id "$key"
echo "enable-key-rotation: $(q kms get-key-rotation-status --key-id "$key" --query KeyRotationEnabled)"
echo "schedule-key-deletion: $(q kms schedule-key-deletion --key-id "$key" --pending-window-in-days 7 --query '[KeyState,PendingWindowInDays]')"
if aws kms encrypt --key-id "$key" --plaintext "fileb://$tmp/plain" > /dev/null 2> "$tmp/err"; then
  echo "encrypt with a key pending deletion: UNEXPECTED SUCCESS"
else
  echo "encrypt with a key pending deletion: $(grep -o 'KMSInvalidStateException' "$tmp/err" | head -1)"
fi
echo "cancel-key-deletion: $(q kms cancel-key-deletion --key-id "$key" --query KeyId | sed 's/.*/ok/')"
echo "generate-random: $(q kms generate-random --number-of-bytes 32 --query Plaintext | base64 -d | wc -c | tr -d ' ') bytes"
