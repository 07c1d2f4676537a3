package audit

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestResponseElementsJSON(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		kms        bool
		want       string // JSON; "" for nil
	}{
		{"KMS CreateKey", `{"KeyMetadata":{"AWSAccountId":"111122223333","KeyId":"k","Enabled":true,"EncryptionAlgorithms":["SYMMETRIC_DEFAULT"]}}`, true,
			`{"keyMetadata":{"aWSAccountId":"111122223333","enabled":true,"encryptionAlgorithms":["SYMMETRIC_DEFAULT"],"keyId":"k"}}`},
		{"grant token dropped", `{"GrantId":"g","GrantToken":"bearer"}`, true, `{"grantId":"g"}`},
		{"KMS blobs dropped", `{"KeyId":"k","CiphertextBlob":"AAAA","Plaintext":"AAAA","PublicKey":"AAAA"}`, true, `{"keyId":"k"}`},
		{"secrets dropped at any depth", `{"Cluster":{"Id":"c","Hsm":{"HsmPassword":"x","Id":"h"}}}`, false, `{"cluster":{"hsm":{"id":"h"},"id":"c"}}`},
		{"empty answer", `{}`, false, ""},
		{"only secrets", `{"Plaintext":"AAAA"}`, true, ""},
		{"not an object", `[1]`, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantElements(t, ResponseElementsJSON([]byte(tc.body), tc.kms), tc.want)
		})
	}
}

func TestResponseElementsXML(t *testing.T) {
	for _, tc := range []struct {
		name, xml string
		want      string // JSON; "" for nil
	}{
		{"IAM CreateAccessKey", `<Result><AccessKey><UserName>alice</UserName><AccessKeyId>AKIAX</AccessKeyId><Status>Active</Status>` +
			`<SecretAccessKey>wJalr/SECRET</SecretAccessKey><CreateDate>2026-12-07T07:36:48Z</CreateDate></AccessKey></Result>`,
			`{"accessKey":{"accessKeyId":"AKIAX","createDate":"2026-12-07T07:36:48Z","status":"Active","userName":"alice"}}`},
		{"STS AssumeRole", `<AssumeRoleResult><Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>s</SecretAccessKey>` +
			`<SessionToken>t</SessionToken><Expiration>2026-12-07T08:00:00Z</Expiration></Credentials>` +
			`<AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult>`,
			`{"assumedRoleUser":{"arn":"arn:aws:sts::1:assumed-role/r/s","assumedRoleId":"AROA:s"},"credentials":{"accessKeyId":"ASIAX","expiration":"2026-12-07T08:00:00Z"}}`},
		{"lists of members", `<Result><User><UserName>a</UserName><Tags><member><Key>k</Key><Value>v</Value></member>` +
			`<member><Key>k2</Key><Value>v2</Value></member></Tags></User></Result>`,
			`{"user":{"tags":[{"key":"k","value":"v"},{"key":"k2","value":"v2"}],"userName":"a"}}`},
		{"a list of one", `<Result><Names><member>x</member></Names></Result>`, `{"names":["x"]}`},
		{"flattened repeats become a list", `<Result><Entry>a</Entry><Entry>b</Entry><Other>c</Other></Result>`,
			`{"entry":["a","b"],"other":"c"}`},
		{"virtual MFA seed dropped", `<Result><VirtualMFADevice><SerialNumber>arn:aws:iam::1:mfa/d</SerialNumber>` +
			`<Base32StringSeed>SEED</Base32StringSeed><QRCodePNG>PNG</QRCodePNG></VirtualMFADevice></Result>`,
			`{"virtualMFADevice":{"serialNumber":"arn:aws:iam::1:mfa/d"}}`},
		{"entities decoded", `<Result><Name>a &amp; b</Name></Result>`, `{"name":"a & b"}`},
		{"empty result", `<Result></Result>`, ""},
		{"only secrets", `<Result><SessionToken>t</SessionToken></Result>`, ""},
		{"not XML", `{"a":1}`, ""},
		{"unclosed", `<Result><A>x</A>`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantElements(t, ResponseElementsXML([]byte(tc.xml)), tc.want)
		})
	}
}

// wantElements fails t unless got is the JSON want, or nil when want is "".
func wantElements(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	if want == "" {
		if got != nil {
			t.Fatalf("got %s, want nil", got)
		}
		return
	}
	if !sameJSON(t, got, json.RawMessage(want)) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestResponseElementsBounded(t *testing.T) {
	big := `{"Description":"` + strings.Repeat("x", MaxResponseElements) + `"}`
	got := ResponseElementsJSON([]byte(big), false)
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil || m["omitted"] != true {
		t.Fatalf("a response over the bound: %.100s", got)
	}
	deep := strings.Repeat("<A>", maxResponseDepth+5) + strings.Repeat("</A>", maxResponseDepth+5)
	if got := ResponseElementsXML([]byte(deep)); got != nil {
		t.Fatalf("a response nested too deeply: %s", got)
	}
}

// FuzzResponseElementsXML: any XML gives nil or a JSON object within the bound, with
// lowerCamel names and no secret member.
func FuzzResponseElementsXML(f *testing.F) {
	f.Add(`<Result><AccessKey><AccessKeyId>A</AccessKeyId><SecretAccessKey>s</SecretAccessKey></AccessKey></Result>`)
	f.Add(`<R><L><member><K>v</K></member><member>x</member></L><E>a</E><E>b</E></R>`)
	f.Add(`<R><a:B xmlns:a="u">x</a:B><!-- c --><![CDATA[y]]></R>`)
	f.Fuzz(func(t *testing.T, s string) {
		got := ResponseElementsXML([]byte(s))
		if got == nil {
			return
		}
		if len(got) > MaxResponseElements {
			t.Fatalf("%d bytes over the bound", len(got))
		}
		var v map[string]any
		if err := json.Unmarshal(got, &v); err != nil {
			t.Fatalf("not a JSON object: %s (%v)", got, err)
		}
		var walk func(any)
		walk = func(x any) {
			switch x := x.(type) {
			case map[string]any:
				for k, e := range x {
					if Denied(k) {
						t.Fatalf("secret member %q in %s", k, got)
					}
					walk(e)
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			}
		}
		walk(v)
	})
}
