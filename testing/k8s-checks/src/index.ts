export { REPO_ROOT, K8S_DIR, TOOLS_BIN, KUSTOMIZATIONS } from './paths.js';
export type { KustomizationName } from './paths.js';
export { render, kustomizeBuild, kubectlKustomize, parseObjects, objectName } from './render.js';
export type { K8sObject, ObjectMeta } from './render.js';
export { schemaProblems, modelModule } from './schema.js';
export type { Problem } from './schema.js';
export { unknownFieldProblems, typedSource } from './strict.js';
export { ORDERWIRE_SERVICES, CONFIG_SPEC_EXPORTS, processConfigVars, serviceConfigVars, validateProcessEnv } from './config-specs.js';
export type { OrderwireService, ConfigProcess, EnvValueProblem } from './config-specs.js';
export {
  allPolicyProblems,
  probeProblems,
  resourceProblems,
  goRuntimeProblems,
  GO_SERVER_IMAGES,
  securityProblems,
  pdbProblems,
  networkPolicyProblems,
  imageProblems,
  natsImageProblems,
  portProblems,
  envProblems,
  envValueProblems,
  graceProblems,
  hpaProblems,
  jetstreamProblems,
  natsStorageProblems,
  natsMemoryProblems,
  parseGoMemLimit,
  parseNatsSize,
  committedSecretProblems,
  referencedSecrets,
  natsConf,
  workloads,
  serviceOf,
  processOf,
  containerEnv,
  selects,
  parseQuantity,
} from './policies.js';
export type { Workload } from './policies.js';
export { generatedFiles, prometheusRules, grafanaDashboards, alertmanagerConfig, k6Scripts, inlineReexport, ALERTMANAGER_CONFIG_SECRET, ALERTMANAGER_SECRETS_SECRET } from './generate.js';
export type { GeneratedFile } from './generate.js';
export { lintWorkflow, lintWorkflows, workflowPolicyProblems, workflowPolicies, WORKFLOWS_DIR } from './workflows.js';
export type { WorkflowProblem } from './workflows.js';
