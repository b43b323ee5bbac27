"""Segment replication: Customer.io segments mirrored into Brevo lists, removals included.

Pure logic, no Airflow and no HTTP. The modules, in the order a run uses them:

* :mod:`.model`: the constants, errors and values (a segment member, a list contact, a mirror request);
* :mod:`.plan`: which ``segment -> list`` pairs a DAG run mirrors, and its summary over every pair;
* :mod:`.ports`: what a run needs from Customer.io and from Brevo (implemented in ``adapters/``);
* :mod:`.diff`: the membership diff and the removal brake;
* :mod:`.fields`: the attributes written on added people and the lifecycle value;
* :mod:`.mirror`: :class:`~.mirror.SegmentMirror`, one run for one pair, in steps (start, complete, finish);
* :mod:`.writes`: its Brevo writes, staged in the sync store (read-back check, contact writes, removals);
* :mod:`.imports`: its imports, one at a time, waited for anywhere (blocking or in the triggerer);
* :mod:`.result`: what a run did, and its XCom summary;
* :mod:`.job`: the run as a job of the one sync lifecycle (what the operator hands its base).
"""
