/**
 * What `flowsync init` writes: Prefect's default .prefectignore (as `prefect init` writes it) and
 * a prefect.yaml per recipe, with Prefect's step names and its recipes' shape, so the file works
 * unchanged with `prefect deploy` and with `flowsync steps run`. Unlike Prefect's own gcs recipe,
 * the pull step reads `{{ push_code.folder }}` (the recipe's `{{ pull_code.folder }}` names the
 * step itself and never resolves).
 */

export const RECIPES = ['s3', 'azure', 'gcs', 'git', 'docker', 'local'] as const;
export type Recipe = (typeof RECIPES)[number];

export const DEFAULT_PREFECTIGNORE = `# prefect artifacts
.prefectignore

# python artifacts
__pycache__/
*.py[cod]
*$py.class
*.egg-info/
*.egg

# Type checking artifacts
.mypy_cache/
.dmypy.json
dmypy.json
.pyre/

# IPython
profile_default/
ipython_config.py
*.ipynb_checkpoints/*

# Environments
.python-version
.env
.venv
env/
venv/

# MacOS
.DS_Store

# Dask
dask-worker-space/

# Editors
.idea/
.vscode/

# VCS
.git/
.hg/
`;

export interface RecipeInput {
  /** The project's name (its folder's name): the storage folder and the image name. */
  name: string;
  /** Absolute project folder (the local recipe's pull step changes into it). */
  dir: string;
  /** For the git recipe: the origin URL (credentials removed) and the branch, when the folder is a git work tree. */
  repository?: string;
  branch?: string;
}

const q = (s: string): string => `'${s.replaceAll("'", "''")}'`;

interface StorageRecipe {
  module: string;
  push: string;
  pull: string;
  requires: string;
  containerKey: 'bucket' | 'container';
  container: string;
  block: string;
}

const STORAGE: Record<'s3' | 'azure' | 'gcs', StorageRecipe> = {
  s3: { module: 'prefect_aws.deployments.steps', push: 'push_to_s3', pull: 'pull_from_s3', requires: 'prefect-aws>=0.3.4', containerKey: 'bucket', container: 'my-bucket', block: 'aws-credentials' },
  azure: {
    module: 'prefect_azure.deployments.steps',
    push: 'push_to_azure_blob_storage',
    pull: 'pull_from_azure_blob_storage',
    requires: 'prefect-azure[blob_storage]>=0.2.8',
    containerKey: 'container',
    container: 'my-container',
    block: 'azure-blob-storage-credentials',
  },
  gcs: { module: 'prefect_gcp.deployments.steps', push: 'push_to_gcs', pull: 'pull_from_gcs', requires: 'prefect-gcp>=0.4.3', containerKey: 'bucket', container: 'my-bucket', block: 'gcp-credentials' },
};

function storageSections(r: StorageRecipe, name: string): string {
  const k = r.containerKey;
  return `# push: uploads this folder (minus .prefectignore) to ${k} ${r.container}, folder ${name}.
# Change the ${k} name; with a private ${k}, uncomment credentials and create the block
# (or give it to flowsync with --blocks FILE).
push:
- ${r.module}.${r.push}:
    id: push_code
    requires: ${r.requires}
    ${k}: ${r.container}
    folder: ${q(name)}
    # credentials: '{{ prefect.blocks.${r.block}.my-credentials-block }}'

# pull: what a worker runs before each flow run.
pull:
- ${r.module}.${r.pull}:
    id: pull_code
    requires: ${r.requires}
    ${k}: '{{ push_code.${k} }}'
    folder: '{{ push_code.folder }}'
    # credentials: '{{ prefect.blocks.${r.block}.my-credentials-block }}'
`;
}

function sections(recipe: Recipe, i: RecipeInput): string {
  switch (recipe) {
    case 's3':
    case 'azure':
    case 'gcs':
      return `build: null\n\n${storageSections(STORAGE[recipe], i.name)}`;
    case 'git':
      return `build: null

# The code travels by git: commit and push it yourself (Prefect does not push code to git).
push: null

pull:
- prefect.deployments.steps.git_clone:
    id: clone_step
    repository: ${q(i.repository ?? 'https://github.com/my-org/my-repo.git')}
    branch: ${q(i.branch ?? 'main')}
    # access_token: '{{ prefect.blocks.secret.my-token }}'   # a private repository
`;
    case 'docker':
      return `# build: an image with this folder in it (/opt/prefect/${i.name}); push: to your registry.
build:
- prefect_docker.deployments.steps.build_docker_image:
    id: build_image
    requires: prefect-docker>=0.3.1
    image_name: ${q(`my-registry/${i.name}`)}
    tag: latest
    dockerfile: auto

push:
- prefect_docker.deployments.steps.push_docker_image:
    requires: prefect-docker>=0.3.1
    image_name: '{{ build_image.image_name }}'
    tag: '{{ build_image.tag }}'

pull:
- prefect.deployments.steps.set_working_directory:
    directory: ${q(`/opt/prefect/${i.name}`)}
`;
    case 'local':
      return `build: null

# The code stays in this folder: workers on this machine run it in place.
push: null

pull:
- prefect.deployments.steps.set_working_directory:
    directory: ${q(i.dir)}
`;
  }
}

export function prefectYaml(recipe: Recipe, i: RecipeInput): string {
  return `# Written by flowsync init (recipe ${recipe}). Run it with: flowsync steps run push / flowsync steps run pull
# (or prefect deploy: the step names and parameters are Prefect's own).
name: ${q(i.name)}
prefect-version: 3.0.0

${sections(recipe, i)}
deployments: []
`;
}
