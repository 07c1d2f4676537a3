package trail

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

// An invalid trail name is refused with the message CloudTrail gives for the first rule
// it breaks, for CreateTrail and for the operations that look a trail up by name.
func TestTrailNameMessages(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ name, msg string }{
		{"", "Trail name cannot be blank!"},
		{"ab", "Trail name too short. Minimum allowed length: 3 characters. Specified name length: 2 characters."},
		{strings.Repeat("a", 129), "Trail name too long. Maximum allowed length: 128 characters. Specified name length: 129 characters."},
		{"-trail", "Trail name must starts with a letter or number."},
		{"trail!", "Trail name must ends with a letter or number."},
		{"trail.", "Trail name must ends with a letter or number."},
		{"my#trail", "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_)."},
		{"my trail", "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_)."},
		{"my-_namespace", "Trail name or ARN cannot have adjacent periods (.), hyphens (-), or underscores (_)."},
		{"my--namespace", "Trail name or ARN cannot have adjacent periods (.), hyphens (-), or underscores (_)."},
		{"192.168.5.4", "Trail name cannot be formatted as an IP address."},
	} {
		_, err := f.op("CreateTrail", `{"Name":"`+tc.name+`","S3BucketName":"bucket-1"}`)
		if e := MapError(err); e == nil || e.Code != "InvalidTrailNameException" || e.Message != tc.msg {
			t.Errorf("CreateTrail %q: %v, want %q", tc.name, err, tc.msg)
		}
		for _, op := range []string{"GetTrail", "GetTrailStatus", "DeleteTrail"} {
			_, err := f.op(op, `{"Name":"`+tc.name+`"}`)
			if e := MapError(err); e == nil || e.Code != "InvalidTrailNameException" || e.Message != tc.msg {
				t.Errorf("%s %q: %v, want %q", op, tc.name, err, tc.msg)
			}
		}
	}
	// The rules' edges: 3 and 128 characters, inner punctuation, digits first.
	for _, name := range []string{"abc", strings.Repeat("a", 128), "my-trail.v1_x", "1trail", "192.168.5"} {
		if _, err := f.op("CreateTrail", `{"Name":"`+name+`","S3BucketName":"bucket-1"}`); err != nil {
			t.Errorf("CreateTrail %q: %v", name, err)
		}
	}
}

// In a region other than its home region, a multi-region trail's shadow is described and
// its status read only by ARN: a name finds only the region's own trails (DescribeTrails'
// trailNameList and GetTrailStatus' Name, as AWS documents them).
func TestShadowTrailByNameOrARN(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"everywhere","S3BucketName":"bucket-1","IsMultiRegionTrail":true}`)
	arn := "arn:aws:cloudtrail:us-east-1:111122223333:trail/everywhere"
	f.caller.Region = "eu-west-1"
	f.mustOp("CreateTrail", `{"Name":"local","S3BucketName":"bucket-1"}`)

	names := func(body string) []string {
		t.Helper()
		var out []string
		for _, tr := range f.mustOp("DescribeTrails", body).(map[string]any)["trailList"].([]*trailOutput) {
			out = append(out, tr.Name)
		}
		return out
	}
	if got := strings.Join(names(`{"trailNameList":["everywhere","local"]}`), ","); got != "local" {
		t.Errorf("DescribeTrails by names in eu-west-1: %s, want only local", got)
	}
	if got := strings.Join(names(`{"trailNameList":["`+arn+`"]}`), ","); got != "everywhere" {
		t.Errorf("DescribeTrails by the shadow's ARN: %s", got)
	}
	if got := strings.Join(names(`{"trailNameList":["`+arn+`"],"includeShadowTrails":false}`), ","); got != "" {
		t.Errorf("DescribeTrails by ARN without shadows: %s", got)
	}
	if got := strings.Join(names(`{}`), ","); got != "local,everywhere" { // by ARN
		t.Errorf("DescribeTrails of the region: %s", got)
	}

	_, err := f.op("GetTrailStatus", `{"Name":"everywhere"}`)
	if e := MapError(err); e == nil || e.Code != "TrailNotFoundException" || !strings.Contains(e.Message, "arn:aws:cloudtrail:eu-west-1:111122223333:trail/everywhere") {
		t.Errorf("GetTrailStatus of a shadow by name: %v", err)
	}
	if st := f.mustOp("GetTrailStatus", `{"Name":"`+arn+`"}`).(map[string]any); st["IsLogging"] != false {
		t.Errorf("GetTrailStatus of a shadow by ARN: %v", st)
	}
	f.mustOp("GetTrailStatus", `{"Name":"local"}`)
	f.caller.Region = "us-east-1"
	f.mustOp("GetTrailStatus", `{"Name":"everywhere"}`) // in its home region by name
}

// Tag keys and values follow InvalidTagParameterException's documented alphabet, and
// aws: keys are AWS's own; a refused AddTags changes nothing.
func TestTagParameters(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"tagged","S3BucketName":"bucket-1","TagsList":[{"Key":"env","Value":"dev"}]}`)
	arn := "arn:aws:cloudtrail:us-east-1:111122223333:trail/tagged"
	for _, tags := range []string{
		`[{"Key":"a#b","Value":"x"}]`,
		`[{"Key":"ok","Value":"semi;colon"}]`,
		`[{"Key":"aws:createdBy","Value":"me"}]`,
		`[{"Key":"AWS:x"}]`,
		`[{"Key":""}]`,
		`[{"Key":"` + strings.Repeat("k", 129) + `"}]`,
		`[{"Key":"k","Value":"` + strings.Repeat("v", 257) + `"}]`,
		`[{"Key":"dup","Value":"1"},{"Key":"dup","Value":"2"}]`,
	} {
		_, err := f.op("AddTags", `{"ResourceId":"`+arn+`","TagsList":`+tags+`}`)
		if e := MapError(err); e == nil || e.Code != "InvalidTagParameterException" {
			t.Errorf("AddTags %s: %v, want InvalidTagParameterException", tags, err)
		}
		_, err = f.op("CreateTrail", `{"Name":"other","S3BucketName":"bucket-1","TagsList":`+tags+`}`)
		if e := MapError(err); e == nil || e.Code != "InvalidTagParameterException" {
			t.Errorf("CreateTrail with %s: %v, want InvalidTagParameterException", tags, err)
		}
	}
	// Letters of any script, digits, spaces and the punctuation the pattern allows.
	f.mustOp("AddTags", `{"ResourceId":"`+arn+`","TagsList":[{"Key":"Kostenstelle äö 1","Value":"a_b.c:d/e=f+g-h@i"},{"Key":"awsome"}]}`)
	f.mustOp("RemoveTags", `{"ResourceId":"`+arn+`","TagsList":[{"Key":"aws:none"}]}`) // removing is allowed: nothing to remove
	out := f.mustOp("ListTags", `{"ResourceIdList":["`+arn+`"]}`).(map[string]any)["ResourceTagList"]
	got := fmt.Sprint(out)
	if want := "[{" + arn + " [{env dev} {Kostenstelle äö 1 a_b.c:d/e=f+g-h@i} {awsome }]}]"; got != want {
		t.Errorf("ListTags: %s, want %s", got, want)
	}
}

// A trail's KMS key must be in the trail's region (KmsKeyNotFoundException otherwise, as
// AWS answers for a key in another region than the bucket), whether it is named by an
// ARN of another region or resolves to one.
func TestKmsKeyOtherRegion(t *testing.T) {
	f := newFixture(t)
	f.caller.Region = "eu-west-1"
	for _, id := range []string{"alias/trail", "arn:aws:kms:us-east-1:111122223333:key/k1", "arn:aws:kms:us-east-1:111122223333:alias/trail"} {
		_, err := f.op("CreateTrail", `{"Name":"sealed","S3BucketName":"bucket-1","KmsKeyId":"`+id+`"}`)
		if e := MapError(err); e == nil || e.Code != "KmsKeyNotFoundException" {
			t.Errorf("KmsKeyId %s for a trail in eu-west-1: %v", id, err)
		}
	}
	if len(f.svc.Trails()) != 0 {
		t.Errorf("a refused CreateTrail made a trail: %+v", f.svc.Trails())
	}
	f.caller.Region = "us-east-1"
	out := f.mustOp("CreateTrail", `{"Name":"sealed","S3BucketName":"bucket-1","KmsKeyId":"alias/trail"}`).(*trailOutput)
	if out.KmsKeyId != "arn:aws:kms:us-east-1:111122223333:key/k1" {
		t.Errorf("KmsKeyId %q", out.KmsKeyId)
	}
}

// UpdateTrail that makes a trail multi-region checks, as CreateTrail does, that its name is
// free in every region where the account has trails and that they have room for its shadow;
// a refused update leaves the trail as it was.
func TestUpdateToMultiRegionNeedsNameAndRoom(t *testing.T) {
	f := newFixture(t)
	f.caller.Region = "us-west-2"
	f.mustOp("CreateTrail", `{"Name":"shared","S3BucketName":"bucket-1"}`)
	f.caller.Region = "us-east-1"
	f.mustOp("CreateTrail", `{"Name":"shared","S3BucketName":"bucket-1"}`)
	_, err := f.op("UpdateTrail", `{"Name":"shared","IsMultiRegionTrail":true}`)
	if e := MapError(err); e == nil || e.Code != "TrailAlreadyExistsException" {
		t.Fatalf("UpdateTrail to multi-region with the name taken in us-west-2: %v", err)
	}
	got := f.mustOp("GetTrail", `{"Name":"shared"}`).(map[string]any)["Trail"].(*trailOutput)
	if got.IsMultiRegionTrail {
		t.Errorf("the refused update made the trail multi-region")
	}
	// us-west-2 full (5 trails with "shared"): no room for another shadow.
	f.caller.Region = "us-west-2"
	for _, n := range []string{"west1", "west2", "west3", "west4"} {
		f.mustOp("CreateTrail", `{"Name":"`+n+`","S3BucketName":"bucket-1"}`)
	}
	f.caller.Region = "us-east-1"
	f.mustOp("CreateTrail", `{"Name":"east","S3BucketName":"bucket-1"}`)
	_, err = f.op("UpdateTrail", `{"Name":"east","IsMultiRegionTrail":true}`)
	if e := MapError(err); e == nil || e.Code != "MaximumNumberOfTrailsExceededException" {
		t.Fatalf("UpdateTrail to multi-region with us-west-2 full: %v", err)
	}
	// Room again: the update goes through, and an update of a multi-region trail does
	// not count the trail against itself.
	f.caller.Region = "us-west-2"
	f.mustOp("DeleteTrail", `{"Name":"west4"}`)
	f.caller.Region = "us-east-1"
	if out := f.mustOp("UpdateTrail", `{"Name":"east","IsMultiRegionTrail":true}`).(*trailOutput); !out.IsMultiRegionTrail {
		t.Errorf("UpdateTrail: %+v", out)
	}
	f.mustOp("UpdateTrail", `{"Name":"east","IsMultiRegionTrail":true,"EnableLogFileValidation":true}`)
}

// FuzzTrailName: trailNameError never panics, refuses with InvalidTrailNameException only,
// and accepts exactly the names of CloudTrail's rules (checked here independently).
func FuzzTrailName(f *testing.F) {
	for _, s := range []string{"", "ab", "abc", "my-_namespace", "192.168.5.4", "trail!", "-x-", "a.b.c", "ä-trail", "::1", "a\x00b", strings.Repeat("z", 129)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := trailNameError(name)
		want := len(name) >= 3 && len(name) <= 128 && net.ParseIP(name) == nil
		for i := 0; want && i < len(name); i++ {
			c := name[i]
			alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
			punct := c == '.' || c == '_' || c == '-'
			switch {
			case !alnum && !punct, punct && (i == 0 || i == len(name)-1):
				want = false
			case punct && i+1 < len(name) && strings.ContainsRune("._-", rune(name[i+1])):
				want = false
			}
		}
		if (err == nil) != want {
			t.Fatalf("trailNameError(%q) = %v, want valid=%v", name, err, want)
		}
		if err != nil && (err.Code != "InvalidTrailNameException" || err.Message == "") {
			t.Fatalf("trailNameError(%q) = %+v", name, err)
		}
	})
}

// A KmsKeyId that is an ARN but not a KMS key or alias ARN is InvalidKmsKeyIdException.
func TestKmsKeyIdMalformedARN(t *testing.T) {
	f := newFixture(t)
	f.mustOp("CreateTrail", `{"Name":"sealed","S3BucketName":"bucket-1"}`)
	for _, id := range []string{
		"arn:aws:kms:us-east-1:111122223333:foo/bar",
		"arn:aws:kms:us-east-1:111122223333:key/",
		"arn:aws:kms:us-east-1:1111:key/k1",
		"arn:aws:s3:::bucket-1",
		"arn:aws:kms:us-east-1:111122223333:key/k1 ",
	} {
		_, err := f.op("UpdateTrail", `{"Name":"sealed","KmsKeyId":"`+id+`"}`)
		if e := MapError(err); e == nil || e.Code != "InvalidKmsKeyIdException" {
			t.Errorf("KmsKeyId %q: %v, want InvalidKmsKeyIdException", id, err)
		}
	}
	// A well-formed ARN of a key that does not exist is not found.
	_, err := f.op("UpdateTrail", `{"Name":"sealed","KmsKeyId":"arn:aws:kms:us-east-1:111122223333:key/nope"}`)
	if e := MapError(err); e == nil || e.Code != "KmsKeyNotFoundException" {
		t.Errorf("KmsKeyId of an unknown key: %v", err)
	}
}
