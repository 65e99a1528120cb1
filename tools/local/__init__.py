"""The whole pipeline on one machine: moto for AWS, an embedded PostgreSQL for the warehouse.

``provision`` creates the resources from the same config the stacks use, ``kinesis``/``sqs``
are pollers with Lambda's event-source semantics, ``pipeline`` wires the real handlers to them,
``reconcile`` proves that every record sent is accounted for, and ``demo`` is ``make demo``.
Local and test infrastructure only: nothing here is deployed.
"""
