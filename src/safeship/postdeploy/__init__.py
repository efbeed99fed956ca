"""After a deploy that succeeded: the release tag, the artifacts, the stakeholders' news.

``[environments.X.post_deploy]`` configures three steps, run in this order by
:func:`safeship.postdeploy.run.run_post_deploy` (the core calls it once the deployment has
ended ``succeeded``): ``tag`` (an annotated git tag on the shipped commit, pushed, signed when
a key is configured), ``artifacts`` (files copied to the artifact store with the deployment's
report, checksummed) and ``notify`` (a ``deployment.released`` event, routed by ``[alerts]``).
Each step's verdict is a row of ``gate_results`` under its name, as the gates' are; a step that
fails is one warning line and never changes the deployment's status: it has shipped.
"""
