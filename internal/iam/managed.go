package iam

import (
	"time"
)

// awsPolicy is an AWS managed policy: present in every account from the start, read-only.
type awsPolicy struct {
	Name, ID, Version, Description, Document string
	Path                                     string
	Created, Updated                         time.Time
}

func awsTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// awsManaged are the AWS managed policies, by ARN. Documents are AWS's as published in the
// AWS Managed Policy Reference (default versions noted), except ReadOnlyAccess, whose real
// document lists hundreds of services: here it is the subset for the services Coffer
// implements (see doc.go). AWSCloudHSMFullAccess is reproduced from memory of AWS's
// document (cloudhsm:*), not checked against the published reference.
var awsManaged = map[string]*awsPolicy{}

func init() {
	for _, p := range []*awsPolicy{
		{Name: "AdministratorAccess", ID: "ANPAIWMBCKSKIEE64ZLYK", Version: "v1",
			Description: "Provides full access to AWS services and resources.",
			Created:     awsTime("2015-02-06T18:39:46Z"), Updated: awsTime("2015-02-06T18:39:46Z"),
			Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`},
		{Name: "PowerUserAccess", ID: "ANPAJYRXTHIB4FOVS3ZXS", Version: "v12",
			Description: "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
			Created:     awsTime("2015-02-06T18:39:47Z"), Updated: awsTime("2026-02-12T17:59:00Z"),
			Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["iam:*","organizations:*","account:*"],"Resource":"*"},` +
				`{"Effect":"Allow","Action":["account:GetAccountInformation","account:GetGovCloudAccountInformation","account:GetPrimaryEmail","account:ListRegions",` +
				`"iam:CreateServiceLinkedRole","iam:DeleteServiceLinkedRole","iam:ListRoles","organizations:DescribeEffectivePolicy","organizations:DescribeOrganization"],"Resource":"*"}]}`},
		{Name: "ReadOnlyAccess", ID: "ANPAILL3HVNFSB6DCOWYQ", Version: "v1",
			Description: "Provides read-only access to AWS services and resources. (Coffer: subset for the services Coffer implements.)",
			Created:     awsTime("2015-02-06T18:39:48Z"), Updated: awsTime("2015-02-06T18:39:48Z"),
			Document: `{"Version":"2012-10-17","Statement":[{"Sid":"ReadOnlyActions","Effect":"Allow","Action":[` +
				`"cloudhsm:Describe*","cloudhsm:Get*","cloudhsm:List*",` +
				`"iam:Generate*","iam:Get*","iam:List*","iam:Simulate*",` +
				`"kms:Describe*","kms:Get*","kms:List*",` +
				`"sts:GetCallerIdentity","sts:GetSessionToken"],"Resource":"*"}]}`},
		{Name: "AWSKeyManagementServicePowerUser", ID: "ANPAJNPP7PPPPMJRV2SA4", Version: "v2",
			Description: "Provides access to AWS Key Management Service (KMS).",
			Created:     awsTime("2015-02-06T18:40:40Z"), Updated: awsTime("2017-03-07T00:55:11Z"),
			Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:CreateAlias","kms:CreateKey","kms:DeleteAlias","kms:Describe*",` +
				`"kms:GenerateRandom","kms:Get*","kms:List*","kms:TagResource","kms:UntagResource","iam:ListGroups","iam:ListRoles","iam:ListUsers"],"Resource":"*"}]}`},
		{Name: "AWSCloudHSMFullAccess", ID: "ANPAIMBQYQZM7F63DA2UU", Version: "v1",
			Description: "Provides full access to all CloudHSM resources.",
			Created:     awsTime("2015-02-06T18:39:51Z"), Updated: awsTime("2015-02-06T18:39:51Z"),
			Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudhsm:*","Resource":"*"}]}`},
		{Name: "AWSCloudHSMReadOnlyAccess", ID: "ANPAISVCBSY7YDBOT67KE", Version: "v1",
			Description: "Provides read only access to all CloudHSM resources.",
			Created:     awsTime("2015-02-06T18:39:51Z"), Updated: awsTime("2015-02-06T18:39:51Z"),
			Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["cloudhsm:Get*","cloudhsm:List*","cloudhsm:Describe*"],"Resource":"*"}]}`},
	} {
		p.Path = "/"
		awsManaged["arn:aws:iam::aws:policy/"+p.Name] = p
	}
}
