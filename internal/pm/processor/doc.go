// Package processor turns the agents' measurement records into results:
// it pairs each loss period's headend and tail counters, takes STAMP delay
// periods as they come, stores every result before it acknowledges the
// records behind it (at least once, idempotent keys), keeps the recent
// results of each session in memory for queries and live subscribers, and
// expires old ones. The controller owns one Processor and feeds it from the
// measurement bus; the processor knows nothing of policies or agents.
package processor
