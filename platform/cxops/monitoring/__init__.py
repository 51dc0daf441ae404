"""Monitoring and the retraining loop: drift references, alerts, retraining runs and late labels.

The drift detectors themselves run in the drift monitor service (`cxops_drift`, its own environment); this
package never imports Alibi Detect.
"""
