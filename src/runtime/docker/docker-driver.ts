import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import type { AgentChannel } from '../../agent/agent-client.js';
import { LABELS, type RuntimeDriver, type RuntimeInfo, type RuntimeObjects, type SessionInfo, type SessionSpec } from '../driver.js';
import { fromDockerError, isDockerNotFound } from './docker-errors.js';

const SANDBOX_UID = '1000:1000';
const RELAY_CMD = ['python3', '/opt/berth/berth_agent.py', 'relay'];

/**
 * The Docker implementation of the runtime port, the only module that talks to dockerode.
 * It honours DOCKER_HOST (and the other docker-modem variables), so it works against a remote
 * engine too: the agent is reached through the engine's own exec streams, never over TCP/IP to
 * the container.
 */
export class DockerDriver implements RuntimeDriver {
  readonly docker: Docker;

  constructor(docker: Docker = new Docker()) {
    this.docker = docker;
  }

  async ping(signal?: AbortSignal): Promise<RuntimeInfo> {
    try {
      signal?.throwIfAborted();
      const version = await this.docker.version();
      return { engine: 'docker', version: version.Version, apiVersion: version.ApiVersion };
    } catch (error) {
      throw fromDockerError(error, 'talk to the engine');
    }
  }

  async imageExists(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (error) {
      if (isDockerNotFound(error)) return false;
      throw fromDockerError(error, `inspect image ${image}`);
    }
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.docker.createVolume({ Name: name, Labels: labels });
    } catch (error) {
      throw fromDockerError(error, `create volume ${name}`);
    }
  }

  async removeVolume(name: string): Promise<void> {
    // A volume is briefly "in use" right after its container was force-removed; retry a little.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.docker.getVolume(name).remove({ force: true });
        return;
      } catch (error) {
        if (isDockerNotFound(error)) return;
        const e = error as { statusCode?: number };
        if (e.statusCode === 409 && attempt < 20) {
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        throw fromDockerError(error, `remove volume ${name}`);
      }
    }
  }

  async startSession(spec: SessionSpec, signal?: AbortSignal): Promise<SessionInfo> {
    const labels = {
      [LABELS.managed]: 'true',
      [LABELS.registry]: spec.registryId,
      [LABELS.sandbox]: spec.sandboxId,
      [LABELS.session]: spec.sessionId,
    };
    const tmpfs = `rw,exec,nosuid,nodev,size=${spec.tmpfsBytes}`;
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer({
        name: spec.name,
        Image: spec.image,
        Labels: labels,
        User: SANDBOX_UID,
        WorkingDir: '/workspace',
        Tty: false,
        OpenStdin: false,
        Env: [`BERTH_IDLE_EXIT_S=${spec.idleExitS}`],
        NetworkDisabled: spec.network === 'none',
        StopTimeout: 1,
        HostConfig: {
          Mounts: [{ Type: 'volume', Source: spec.volume, Target: '/workspace' }],
          NetworkMode: spec.network,
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges'],
          ReadonlyRootfs: spec.readOnlyRoot,
          Tmpfs: { '/tmp': tmpfs, '/home/sandbox': `${tmpfs},uid=1000,gid=1000,mode=0700` },
          Memory: spec.memoryBytes,
          MemorySwap: spec.memoryBytes,
          NanoCpus: Math.round(spec.cpus * 1e9),
          PidsLimit: spec.pidsLimit,
          Init: true,
          // An agent that ends itself (idle with no Berth process attached) takes its container along.
          AutoRemove: true,
          LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '1' } },
        },
        abortSignal: signal,
      });
    } catch (error) {
      throw fromDockerError(error, `create the sandbox container ${spec.name}`);
    }
    try {
      await container.start();
    } catch (error) {
      await this.removeSession(container.id).catch(() => undefined);
      throw fromDockerError(error, `start the sandbox container ${spec.name}`);
    }
    return { containerId: container.id, name: spec.name, sandboxId: spec.sandboxId, sessionId: spec.sessionId, running: true };
  }

  async findSession(name: string): Promise<SessionInfo | undefined> {
    try {
      const info = await this.docker.getContainer(name).inspect();
      const labels = info.Config.Labels ?? {};
      return {
        containerId: info.Id,
        name: info.Name.replace(/^\//, ''),
        sandboxId: labels[LABELS.sandbox] ?? '',
        sessionId: labels[LABELS.session] ?? '',
        running: info.State.Running && !info.State.Restarting,
      };
    } catch (error) {
      if (isDockerNotFound(error)) return undefined;
      throw fromDockerError(error, `inspect container ${name}`);
    }
  }

  async connect(containerId: string, signal?: AbortSignal): Promise<AgentChannel> {
    try {
      const exec = await this.docker.getContainer(containerId).exec({
        Cmd: RELAY_CMD,
        User: SANDBOX_UID,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
        abortSignal: signal,
      });
      const stream = await exec.start({ hijack: true, stdin: true });
      const input = new PassThrough();
      const stderr = new PassThrough();
      stderr.resume(); // the relay only writes here when it fails; nothing to keep
      this.docker.modem.demuxStream(stream, input, stderr);
      stream.on('end', () => input.end());
      stream.on('close', () => input.end());
      stream.on('error', (err: Error) => input.destroy(err));
      let closed = false;
      return {
        input,
        output: stream,
        close: () => {
          if (closed) return;
          closed = true;
          stream.end();
          stream.destroy();
        },
      };
    } catch (error) {
      throw fromDockerError(error, 'connect to the sandbox agent');
    }
  }

  async removeSession(containerIdOrName: string): Promise<void> {
    try {
      await this.docker.getContainer(containerIdOrName).remove({ force: true, v: false });
    } catch (error) {
      if (isDockerNotFound(error)) return;
      // "removal already in progress" is as good as done.
      if ((error as { statusCode?: number }).statusCode === 409) return;
      throw fromDockerError(error, `remove container ${containerIdOrName}`);
    }
  }

  async listObjects(registryId: string): Promise<RuntimeObjects> {
    const filter = { label: [`${LABELS.registry}=${registryId}`] };
    try {
      const [containers, volumes] = await Promise.all([
        this.docker.listContainers({ all: true, filters: filter }),
        this.docker.listVolumes({ filters: filter }),
      ]);
      return {
        sessions: containers.map((c) => ({
          containerId: c.Id,
          name: (c.Names[0] ?? '').replace(/^\//, ''),
          sandboxId: c.Labels[LABELS.sandbox] ?? '',
          sessionId: c.Labels[LABELS.session] ?? '',
          running: c.State === 'running',
          createdAtMs: c.Created * 1000,
        })),
        volumes: (volumes.Volumes ?? []).map((v) => {
          const created = (v as { CreatedAt?: string }).CreatedAt;
          return {
            name: v.Name,
            sandboxId: v.Labels?.[LABELS.sandbox] ?? '',
            createdAtMs: created ? Date.parse(created) : 0,
          };
        }),
      };
    } catch (error) {
      throw fromDockerError(error, 'list Berth objects');
    }
  }
}

