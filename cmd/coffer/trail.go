package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awscloudtrail "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/spf13/cobra"

	"github.com/coffer-hsm/coffer/internal/awsproto"
	"github.com/coffer-hsm/coffer/internal/kms"
	"github.com/coffer-hsm/coffer/internal/seal"
	"github.com/coffer-hsm/coffer/internal/trail"
)

// trailKeys is the in-process KMS a trail with a KmsKeyId uses. Trail delivery acts as the
// account's root in the key's policy (AWS uses the cloudtrail.amazonaws.com service
// principal, which Coffer's key policies do not know).
type trailKeys struct {
	svc     *kms.Service
	region  string
	account string
}

func (k *trailKeys) caller() kms.Caller {
	return kms.Caller{Region: k.region, Account: k.account, Principal: "arn:aws:iam::" + k.account + ":root", PrincipalType: kms.PrincipalRoot}
}

func (k *trailKeys) Check(ctx context.Context, keyID string, ec map[string]string) (string, error) {
	_, err := k.svc.GenerateDataKey(ctx, k.caller(), kms.GenerateDataKeyInput{KeyId: keyID, KeySpec: "AES_256", EncryptionContext: ec, DryRun: true}, true)
	if e := kms.AsError(err); err != nil && e.Code != "DryRunOperationException" {
		switch e.Code {
		case "NotFoundException":
			return "", &trail.Error{Code: "KmsKeyNotFoundException", Message: "KMS key " + keyID + " does not exist: " + e.Message}
		case "AccessDeniedException":
			return "", &trail.Error{Code: "InsufficientEncryptionPolicyException", Message: "Insufficient permissions to access the KMS key " + keyID + ": " + e.Message}
		case "InvalidKeyUsageException":
			return "", &trail.Error{Code: "InvalidKmsKeyIdException", Message: "KMS key " + keyID + " is not a symmetric encryption key."}
		default:
			return "", &trail.Error{Code: "KmsException", Message: e.Code + ": " + e.Message}
		}
	}
	d, err := k.svc.DescribeKey(ctx, k.caller(), kms.KeyIDInput{KeyId: keyID})
	if err != nil {
		return "", &trail.Error{Code: "KmsException", Message: kms.AsError(err).Message}
	}
	return d.KeyMetadata.Arn, nil
}

func (k *trailKeys) GenerateDataKey(ctx context.Context, keyID string, ec map[string]string) ([]byte, []byte, error) {
	out, err := k.svc.GenerateDataKey(ctx, k.caller(), kms.GenerateDataKeyInput{KeyId: keyID, KeySpec: "AES_256", EncryptionContext: ec}, false)
	if err != nil {
		return nil, nil, kms.AsError(err)
	}
	return out.Plaintext, out.CiphertextBlob, nil
}

func (k *trailKeys) Decrypt(ctx context.Context, blob []byte, ec map[string]string) ([]byte, error) {
	out, err := k.svc.Decrypt(ctx, k.caller(), kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
	if err != nil {
		return nil, kms.AsError(err)
	}
	return out.Plaintext, nil
}

// startTrails wires trail delivery: encryption with the node's KMS, the digest signer and
// the deliverer reading the audit journal.
func (n *node) startTrails(ctx context.Context, sealer seal.Sealer) error {
	o := n.opts
	n.trail.SetKeys(&trailKeys{svc: n.kms, region: o.region, account: o.accountID})
	if n.rec == nil {
		return nil // no journal, nothing to deliver
	}
	wrap, err := sealedKey(filepath.Join(o.dataDir, "cloudtrail-signing.sealed"), sealer, "CloudTrail signing key")
	if err != nil {
		return err
	}
	signer, err := trail.NewSigner(filepath.Join(o.dataDir, "cloudtrail-keys"), wrap)
	clear(wrap)
	if err != nil {
		return err
	}
	d := trail.NewDeliverer(trail.DelivererConfig{Service: n.trail, Journal: n.rec.j, Root: o.trailDir,
		StateDir: filepath.Join(o.dataDir, "cloudtrail-delivery"), Signer: signer,
		LogInterval: o.trailLogEvery, DigestInterval: o.trailDigestEvery, Logger: n.log})
	go d.Run(ctx)
	return nil
}

// trailHandlers are the trail operations of the CloudTrail JSON service, authorized as
// cloudtrail:<Operation> on the trails they name ("*" for those naming none).
func trailHandlers(svc *trail.Service, a *identityAuthorizer) map[string]awsproto.Handler {
	caller := func(c *awsproto.Call) trail.Caller {
		return trail.Caller{Region: c.Region, Account: c.Principal.Account}
	}
	return handlers(svc, trail.Operations(), caller, func(op string, h awsproto.Handler) awsproto.Handler {
		return a.guardEach("cloudtrail", op, "AccessDeniedException", http.StatusBadRequest, func(op string, c *awsproto.Call) []string {
			return svc.RequestResources(op, caller(c), c.Body) // so that trail-scoped statements apply
		}, func(c *awsproto.Call, res string) map[string]string { return svc.ResourceTags(caller(c), res) }, h)
	})
}

// ---- coffer trail validate ----

type trailValidateOptions struct {
	endpoint, region, accessKeyID, secretKey, dataDir, trailDir, caCert string
	trailARN, start, end, output                                        string
	verbose                                                             bool
}

func newTrailCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "trail", Short: "CloudTrail trails: validate delivered log files"}
	cmd.AddCommand(newTrailValidateCmd())
	return cmd
}

func newTrailValidateCmd() *cobra.Command {
	o := &trailValidateOptions{}
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Validate a trail's log and digest files, like aws cloudtrail validate-logs",
		Long: `Validate the log files a trail delivered between --start-time and --end-time (default now).

The digest files of the trail's home region are walked backwards from the newest one in the
range along their chain; each digest's SHA256withRSA signature is verified with the public
keys the node returns from ListPublicKeys, and each log file it lists is hashed and compared.
Files encrypted with the trail's KMS key are decrypted with KMS Decrypt on the node.

Every INVALID file is named with its reason and a category: modified (a log file whose
content changed), deleted (a log file a digest lists that is gone), missing (a digest file
the chain leads to that is gone: the chain is broken there) or invalid (a digest that fails
its signature, format or chain checks).

Exit status: 0 when everything checked is valid, 2 when anything is invalid, 1 on errors.`,
		Example: `  coffer trail validate --trail-arn arn:aws:cloudtrail:us-east-1:111122223333:trail/main \
    --start-time 2026-01-01T00:00:00Z --data-dir ./coffer-data`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTrailValidate(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	endpoint := os.Getenv("COFFER_ENDPOINT")
	if endpoint == "" {
		endpoint = "http://127.0.0.1:8990"
	}
	f := cmd.Flags()
	f.StringVar(&o.trailARN, "trail-arn", "", "ARN of the trail (required)")
	f.StringVar(&o.start, "start-time", "", "validate files from this time on (RFC 3339, e.g. 2026-01-01T00:00:00Z, or Unix seconds; required)")
	f.StringVar(&o.end, "end-time", "", "validate files up to this time (default now)")
	f.StringVar(&o.output, "output", "text", "text or json")
	f.BoolVar(&o.verbose, "verbose", false, "also list every valid file")
	f.StringVar(&o.endpoint, "endpoint", endpoint, "the node's URL (env COFFER_ENDPOINT)")
	f.StringVar(&o.caCert, "ca-cert", "", "PEM CA certificate to trust for an https endpoint, e.g. <data-dir>/tls/ca.pem (default $"+envCACert+")")
	f.StringVar(&o.region, "region", "", "region whose log and digest files are validated, with that region's public keys, as aws cloudtrail validate-logs --region (default: the trail ARN's region)")
	f.StringVar(&o.accessKeyID, "access-key-id", "", "AWS access key id (default $AWS_ACCESS_KEY_ID, else <data-dir>/dev-credentials)")
	f.StringVar(&o.secretKey, "secret-access-key", "", "AWS secret access key (default $AWS_SECRET_ACCESS_KEY, else <data-dir>/dev-credentials)")
	f.StringVar(&o.dataDir, "data-dir", "./coffer-data", "the node's data dir (for dev-credentials and the default --trail-dir)")
	f.StringVar(&o.trailDir, "trail-dir", "", "the node's trail directory, the parent of the bucket directories (default <data-dir>/trails)")
	cmd.MarkFlagRequired("trail-arn")
	cmd.MarkFlagRequired("start-time")
	return cmd
}

func parseTrailTime(flag, s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04Z", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: want RFC 3339 (2026-01-01T00:00:00Z) or Unix seconds", flag, s)
}

func runTrailValidate(ctx context.Context, o *trailValidateOptions, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.output != "text" && o.output != "json" {
		return fmt.Errorf("--output must be text or json, got %q", o.output)
	}
	start, err := parseTrailTime("start-time", o.start)
	if err != nil {
		return err
	}
	end := time.Now().UTC()
	if o.end != "" {
		if end, err = parseTrailTime("end-time", o.end); err != nil {
			return err
		}
	}
	if end.Before(start) {
		return errors.New("invalid time range: --start-time must be before --end-time")
	}
	region := o.region
	if region == "" {
		var ok bool
		if region, _, _, ok = parseTrailARN(o.trailARN); !ok {
			return fmt.Errorf("--trail-arn %q is not a trail ARN (arn:aws:cloudtrail:<region>:<account>:trail/<name>)", o.trailARN)
		}
	}
	if o.trailDir == "" {
		o.trailDir = filepath.Join(o.dataDir, "trails")
	}
	akid, secret, _, err := benchCredentials(&benchOptions{accessKeyID: o.accessKeyID, secretKey: o.secretKey, dataDir: o.dataDir})
	if err != nil {
		return err
	}
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, Source: "coffer trail validate"}, nil
	})
	tlsConfig, err := caTLSConfig(o.caCert)
	if err != nil {
		return err
	}
	httpc := awshttp.NewBuildableClient()
	if tlsConfig != nil {
		httpc = httpc.WithTransportOptions(func(t *http.Transport) { t.TLSClientConfig = tlsConfig })
	}
	ct := awscloudtrail.New(awscloudtrail.Options{Region: region, BaseEndpoint: aws.String(o.endpoint), Credentials: creds, HTTPClient: httpc})
	got, err := ct.GetTrail(ctx, &awscloudtrail.GetTrailInput{Name: aws.String(o.trailARN)})
	if err != nil {
		return fmt.Errorf("GetTrail: %w", err)
	}
	tr := got.Trail
	_, account, name, _ := parseTrailARN(aws.ToString(tr.TrailARN))
	t := &trail.Trail{Name: name, Account: account, HomeRegion: aws.ToString(tr.HomeRegion), S3BucketName: aws.ToString(tr.S3BucketName),
		S3KeyPrefix: aws.ToString(tr.S3KeyPrefix), KmsKeyId: aws.ToString(tr.KmsKeyId)}
	keys, err := ct.ListPublicKeys(ctx, &awscloudtrail.ListPublicKeysInput{StartTime: aws.Time(start), EndTime: aws.Time(end)})
	if err != nil {
		return fmt.Errorf("ListPublicKeys: %w", err)
	}
	pks := map[string][]byte{}
	for _, k := range keys.PublicKeyList {
		pks[aws.ToString(k.Fingerprint)] = k.Value
	}
	in := &trail.ValidateInput{Root: o.trailDir, Trail: t, Region: region, Start: start, End: end, PublicKeys: pks,
		Keys: &remoteKeys{kms: awskms.New(awskms.Options{Region: region, BaseEndpoint: aws.String(o.endpoint), Credentials: creds, HTTPClient: httpc})}}
	var n int
	in.Progress = func(format string, args ...any) {
		if n++; n%100 == 0 {
			fmt.Fprintf(stderr, "validate: %d files checked\n", n)
		}
	}
	rep, err := trail.Validate(ctx, in)
	if err != nil {
		return err
	}
	if o.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprint(stdout, rep.Text(o.verbose))
	}
	if !rep.OK() {
		return &exitError{code: 2, err: &reportedError{errors.New("invalid trail files found")}}
	}
	return nil
}

// remoteKeys decrypts data keys with the node's KMS over the AWS API.
type remoteKeys struct{ kms *awskms.Client }

func (k *remoteKeys) Check(context.Context, string, map[string]string) (string, error) {
	return "", errors.New("not supported")
}

func (k *remoteKeys) GenerateDataKey(context.Context, string, map[string]string) ([]byte, []byte, error) {
	return nil, nil, errors.New("not supported")
}

func (k *remoteKeys) Decrypt(ctx context.Context, blob []byte, ec map[string]string) ([]byte, error) {
	out, err := k.kms.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
	if err != nil {
		return nil, err
	}
	return out.Plaintext, nil
}

// parseTrailARN splits arn:<partition>:cloudtrail:<region>:<account>:trail/<name>.
func parseTrailARN(arn string) (region, account, name string, ok bool) {
	p := strings.SplitN(arn, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[2] != "cloudtrail" || p[3] == "" || len(p[4]) != 12 || !strings.HasPrefix(p[5], "trail/") {
		return "", "", "", false
	}
	return p[3], p[4], strings.TrimPrefix(p[5], "trail/"), true
}
