"""`keyholder publish` as one orchestration (pipeline.publish): open the
envelopes (opening), build and protect the aggregates and write the files
(aggregates, which alone loads the statistics stack), with the signed
manifest and the audit entries around them (audit).
"""
