"""The GraphQL operations sent to Railway (https://docs.railway.com/reference/public-api).

The operation's name is the first word after ``query``/``mutation``: the client sends it as
``operationName`` and reads the answer from ``data.<name>``.
"""

DEPLOY = """mutation serviceInstanceDeployV2($serviceId: String!, $environmentId: String!, \
$commitSha: String) {
  serviceInstanceDeployV2(serviceId: $serviceId, environmentId: $environmentId, \
commitSha: $commitSha)
}"""
DEPLOYMENT = """query deployment($id: String!) {
  deployment(id: $id) { id status createdAt staticUrl }
}"""
DEPLOYMENTS = """query deployments($input: DeploymentListInput!, $first: Int) {
  deployments(input: $input, first: $first) {
    edges { node { id status createdAt staticUrl } }
  }
}"""
ROLLBACK = """mutation deploymentRollback($id: String!) {
  deploymentRollback(id: $id)
}"""
REMOVE = """mutation deploymentRemove($id: String!) {
  deploymentRemove(id: $id)
}"""
BUILD_LOGS = """query buildLogs($deploymentId: String!, $limit: Int) {
  buildLogs(deploymentId: $deploymentId, limit: $limit) { message timestamp severity }
}"""
DEPLOYMENT_LOGS = """query deploymentLogs($deploymentId: String!, $limit: Int) {
  deploymentLogs(deploymentId: $deploymentId, limit: $limit) { message timestamp severity }
}"""
VARIABLES = """query variables($projectId: String!, $environmentId: String!, $serviceId: String) {
  variables(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId)
}"""
UPSERT_VARIABLES = """mutation variableCollectionUpsert($input: VariableCollectionUpsertInput!) {
  variableCollectionUpsert(input: $input)
}"""
