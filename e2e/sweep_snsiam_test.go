package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSweepSnsIamCLI: discrepancies with AWS found by driving SNS and IAM/STS with
// Debian's AWS CLI (v2.9), which fails loudly on responses it cannot parse.
func TestSweepSnsIamCLI(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	s, root := debianCLINode(t)
	var who struct{ Account string }
	awsOK(t, s, root, &who, "sts", "get-caller-identity")
	acct := who.Account

	// fails sends a request (queryCall) that must fail with the error code: the refusals
	// are the server's; what the CLI must parse are the answers of the awsOK calls.
	fails := func(t *testing.T, code, service, action string, params ...string) {
		t.Helper()
		qFails(t, s, root, code, service, action, params...)
	}

	t.Run("RootGetUser", func(t *testing.T) {
		// The CLI refused Coffer's answer ("Invalid timestamp """).
		var u struct {
			User struct {
				UserId, Arn, CreateDate string
				UserName, Path          *string
			}
		}
		awsOK(t, s, root, &u, "iam", "get-user")
		if u.User.UserId != acct || u.User.Arn != "arn:aws:iam::"+acct+":root" || u.User.UserName != nil || u.User.Path != nil {
			t.Fatalf("%+v", u.User)
		}
		if _, err := time.Parse(time.RFC3339, u.User.CreateDate); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("RootGetSessionToken", func(t *testing.T) {
		var out struct{ Credentials struct{ Expiration string } }
		start := time.Now()
		awsOK(t, s, root, &out, "sts", "get-session-token", "--duration-seconds", "7200")
		exp, err := time.Parse(time.RFC3339, out.Credentials.Expiration)
		if err != nil || exp.After(start.Add(time.Hour+time.Minute)) || exp.Before(start.Add(59*time.Minute)) {
			t.Fatalf("expiration %s (%v), want an hour from now", out.Credentials.Expiration, err)
		}
		fails(t, "ValidationError", "sts", "GetSessionToken", "DurationSeconds", "129601")
	})

	t.Run("PolicyVersionId", func(t *testing.T) {
		var p struct{ Policy struct{ Arn string } }
		awsOK(t, s, root, &p, "iam", "create-policy", "--policy-name", "sweep",
			"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`)
		fails(t, "ValidationError", "iam", "GetPolicyVersion", "PolicyArn", p.Policy.Arn, "VersionId", "bogus")
		fails(t, "NoSuchEntity", "iam", "GetPolicyVersion", "PolicyArn", p.Policy.Arn, "VersionId", "v2")
	})

	t.Run("RoleUpdatesAndMFAList", func(t *testing.T) {
		// Operations the CLI reached as InvalidAction.
		trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}]}`
		awsOK(t, s, root, nil, "iam", "create-role", "--role-name", "sweep", "--assume-role-policy-document", trust)
		awsOK(t, s, root, nil, "iam", "update-role", "--role-name", "sweep", "--description", "d1", "--max-session-duration", "7200")
		var rd struct{ Role struct{ Description string } }
		awsOK(t, s, root, &rd, "iam", "update-role-description", "--role-name", "sweep", "--description", "d2")
		if rd.Role.Description != "d2" {
			t.Fatalf("%+v", rd)
		}
		newTrust := strings.Replace(trust, ":root", ":user/nobody", 1)
		awsOK(t, s, root, nil, "iam", "update-assume-role-policy", "--role-name", "sweep", "--policy-document", newTrust)
		var r struct {
			Role struct {
				Description              string
				MaxSessionDuration       int
				AssumeRolePolicyDocument struct {
					Statement []struct{ Principal struct{ AWS string } }
				}
			}
		}
		awsOK(t, s, root, &r, "iam", "get-role", "--role-name", "sweep")
		if r.Role.Description != "d2" || r.Role.MaxSessionDuration != 7200 || r.Role.AssumeRolePolicyDocument.Statement[0].Principal.AWS != "arn:aws:iam::"+acct+":user/nobody" {
			t.Fatalf("%+v", r.Role)
		}
		fails(t, "MalformedPolicyDocument", "iam", "UpdateAssumeRolePolicy", "RoleName", "sweep", "PolicyDocument", "{")

		qOK(t, s, root, nil, "iam", "AttachRolePolicy", "RoleName", "sweep", "PolicyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess")
		var ents struct {
			PolicyRoles []struct{ RoleName string }
			PolicyUsers []struct{ UserName string }
		}
		awsOK(t, s, root, &ents, "iam", "list-entities-for-policy", "--policy-arn", "arn:aws:iam::aws:policy/ReadOnlyAccess")
		if len(ents.PolicyRoles) != 1 || ents.PolicyRoles[0].RoleName != "sweep" || len(ents.PolicyUsers) != 0 {
			t.Fatalf("%+v", ents)
		}
		var al struct{ AccountAliases []string }
		awsOK(t, s, root, &al, "iam", "list-account-aliases")
		if al.AccountAliases == nil || len(al.AccountAliases) != 0 {
			t.Fatalf("%+v", al)
		}

		var ks struct {
			AccessKeyMetadata []struct{ AccessKeyId string }
		}
		awsOK(t, s, root, &ks, "iam", "list-access-keys")
		if len(ks.AccessKeyMetadata) != 1 || ks.AccessKeyMetadata[0].AccessKeyId != root.AccessKeyID {
			t.Fatalf("%+v", ks)
		}
		qOK(t, s, root, nil, "iam", "CreateVirtualMFADevice", "VirtualMFADeviceName", "sweep-mfa")
		var mf struct {
			VirtualMFADevices []struct{ SerialNumber string }
		}
		awsOK(t, s, root, &mf, "iam", "list-virtual-mfa-devices", "--assignment-status", "Unassigned")
		if len(mf.VirtualMFADevices) != 1 || mf.VirtualMFADevices[0].SerialNumber != "arn:aws:iam::"+acct+":mfa/sweep-mfa" {
			t.Fatalf("%+v", mf)
		}
	})

	t.Run("TopicAttributesAndTags", func(t *testing.T) {
		var ct struct{ TopicArn string }
		awsOK(t, s, root, &ct, "sns", "create-topic", "--name", "sweep", "--tags", "Key=team,Value=ops")
		topic := ct.TopicArn
		fails(t, "InvalidParameter", "sns", "CreateTopic", "Name", "sweep", "Tags.member.1.Key", "team", "Tags.member.1.Value", "dev")

		awsOK(t, s, root, nil, "sns", "set-topic-attributes", "--topic-arn", topic, "--attribute-name", "DisplayName", "--attribute-value", "Sweep")
		var ga struct{ Attributes map[string]string }
		awsOK(t, s, root, &ga, "sns", "get-topic-attributes", "--topic-arn", topic)
		if ga.Attributes["DisplayName"] != "Sweep" {
			t.Fatalf("%v", ga.Attributes)
		}
		fails(t, "InvalidParameter", "sns", "SetTopicAttributes", "TopicArn", topic, "AttributeName", "Bogus", "AttributeValue", "x")
		fails(t, "NotFound", "sns", "SetTopicAttributes", "TopicArn", topic+"-missing", "AttributeName", "DisplayName", "AttributeValue", "x")

		awsOK(t, s, root, nil, "sns", "tag-resource", "--resource-arn", topic, "--tags", "Key=env,Value=prod")
		awsOK(t, s, root, nil, "sns", "untag-resource", "--resource-arn", topic, "--tag-keys", "team")
		var lt struct{ Tags []struct{ Key, Value string } }
		awsOK(t, s, root, &lt, "sns", "list-tags-for-resource", "--resource-arn", topic)
		if len(lt.Tags) != 1 || lt.Tags[0].Key != "env" || lt.Tags[0].Value != "prod" {
			t.Fatalf("%+v", lt)
		}
		fails(t, "ResourceNotFound", "sns", "ListTagsForResource", "ResourceArn", topic+"-missing")

		// A subscriber on loopback; the subscription stays pending.
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		defer hook.Close()
		var sub struct{ SubscriptionArn string }
		awsOK(t, s, root, &sub, "sns", "subscribe", "--topic-arn", topic, "--protocol", "http",
			"--notification-endpoint", hook.URL+"/sweep", "--return-subscription-arn")
		var sa struct{ Attributes map[string]string }
		awsOK(t, s, root, &sa, "sns", "get-subscription-attributes", "--subscription-arn", sub.SubscriptionArn)
		if a := sa.Attributes; a["PendingConfirmation"] != "true" || a["TopicArn"] != topic || a["Endpoint"] != hook.URL+"/sweep" ||
			a["Protocol"] != "http" || a["SubscriptionArn"] != sub.SubscriptionArn || a["Owner"] != acct {
			t.Fatalf("%v", a)
		}
		awsOK(t, s, root, nil, "sns", "set-subscription-attributes", "--subscription-arn", sub.SubscriptionArn,
			"--attribute-name", "RawMessageDelivery", "--attribute-value", "false")
		fails(t, "InvalidParameter", "sns", "SetSubscriptionAttributes", "SubscriptionArn", sub.SubscriptionArn,
			"AttributeName", "Bogus", "AttributeValue", "x")
		fails(t, "NotFound", "sns", "GetSubscriptionAttributes", "SubscriptionArn", topic+":00000000-0000-0000-0000-000000000000")
	})
}
