package cloudwatch

import (
	_ "embed"
	"sync"

	"github.com/coffer-hsm/coffer/internal/awsproto"
)

// modelJSON is botocore's CloudWatch model (2010-08-01) trimmed to the operations of
// Operations, for the query-compatible protocols (AWS JSON 1.0 and Smithy RPC v2 CBOR).
// Regenerate with:
//
//	python3 scripts/trim-botocore-model.py cloudwatch PutMetricAlarm PutCompositeAlarm DescribeAlarms \
//	  DescribeAlarmHistory DeleteAlarms EnableAlarmActions DisableAlarmActions SetAlarmState \
//	  PutMetricData GetMetricStatistics GetMetricData ListMetrics DescribeAlarmsForMetric ListTagsForResource TagResource \
//	  UntagResource > internal/cloudwatch/model.json
//
//go:embed model.json
var modelJSON []byte

// Model is the protocol model of the CloudWatch API (awsproto.QueryService.Model).
var Model = sync.OnceValue(func() *awsproto.Model { return awsproto.MustParseModel(modelJSON) })
