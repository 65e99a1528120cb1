"""Domain code of the risk-scoring pipeline, in the order an event travels it.

    events/     the event contract: model, JSON and Avro codecs (what producers put on Kinesis)
    parse/      Kinesis record -> validated RiskEvent or quarantine record   (parse Lambda)
    score/      per-user state, features, scorers                            (score Lambda)
    load/       pseudonymisation, enriched archive, warehouse batch          (load Lambda)
    warehouse/  Redshift SQL: migrations, dialect rendering, MERGE loader
    migrate/    CloudFormation custom resource that applies warehouse migrations
    common/     what every stage shares: settings, metric contract, SQS envelopes, archive keys

Handlers (``*/handler.py``) only adapt AWS events to these plain functions.
"""
