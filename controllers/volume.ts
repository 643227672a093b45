/**
 * The PersistentVolume controller (pkg/controller/volume/persistentvolume) with a built-in
 * provisioner for local directories. An unbound claim is bound to the smallest Available volume
 * that satisfies it (storage class, access modes, size, volume mode, selector); failing that, a
 * claim whose storage class uses the local-directory provisioner gets a new volume
 * `pvc-<claim uid>` (a hostPath directory) made for it. A claim without storageClassName gets
 * the default class (the DefaultStorageClass admission plugin's job, done here as the API does
 * not do it yet). WaitForFirstConsumer classes wait for the scheduler's
 * `volume.kubernetes.io/selected-node` annotation and pin the volume to that node. A volume
 * whose claim is gone is Released, then deleted (reclaimPolicy Delete) or kept (Retain).
 *
 * StorageClasses come from the options (the API does not serve storage.k8s.io yet).
 */
import { matchesLabels, selectorFromObject } from '../api/selectors.js';
import { clone, type KubeObject } from '../api/types.js';
import { deleteIgnoringNotFound, writeStatus } from './apiutil.js';
import { isAlreadyExists } from './client.js';
import { Controller, type ControllerContext } from './controller.js';
import type { Lister } from './informer.js';
import { value } from './quantity.js';
import { splitKey } from './resources.js';

export const LOCAL_DIR_PROVISIONER = 'actorkube.io/local-dir';
export const SELECTED_NODE_ANNOTATION = 'volume.kubernetes.io/selected-node';
export const BIND_COMPLETED_ANNOTATION = 'pv.kubernetes.io/bind-completed';
export const BOUND_BY_CONTROLLER_ANNOTATION = 'pv.kubernetes.io/bound-by-controller';
export const PROVISIONED_BY_ANNOTATION = 'pv.kubernetes.io/provisioned-by';
export const STORAGE_PROVISIONER_ANNOTATION = 'volume.kubernetes.io/storage-provisioner';

export interface StorageClassInfo {
  name: string;
  provisioner: string;
  reclaimPolicy?: 'Delete' | 'Retain';
  volumeBindingMode?: 'Immediate' | 'WaitForFirstConsumer';
  isDefault?: boolean;
}

export const DEFAULT_STORAGE_CLASSES: StorageClassInfo[] = [{ name: 'standard', provisioner: LOCAL_DIR_PROVISIONER, reclaimPolicy: 'Delete', volumeBindingMode: 'Immediate', isDefault: true }];

export interface PersistentVolumeControllerOptions {
  storageClasses?: StorageClassInfo[];
  /** Where provisioned directories live (the kubelets create and remove them). */
  baseDir?: string;
}

const CLAIM_KIND = { apiVersion: 'v1', kind: 'PersistentVolumeClaim' };

/** The class a claim asks for: its own, or the default when unset ('' means none). */
export function claimClass(pvc: KubeObject, classes: StorageClassInfo[]): string {
  const c = pvc.spec?.storageClassName;
  if (c !== undefined && c !== null) return c;
  return classes.find((x) => x.isDefault)?.name ?? '';
}

const requestOf = (pvc: KubeObject) => value(pvc.spec?.resources?.requests?.storage ?? 0);
const capacityOf = (pv: KubeObject) => value(pv.spec?.capacity?.storage ?? 0);

/** Whether a volume can serve a claim (FindMatchingVolume's checks). */
export function volumeMatches(pv: KubeObject, pvc: KubeObject, className: string): boolean {
  if (pv.metadata.deletionTimestamp) return false;
  if ((pv.spec?.storageClassName ?? '') !== className) return false;
  if ((pv.spec?.volumeMode ?? 'Filesystem') !== (pvc.spec?.volumeMode ?? 'Filesystem')) return false;
  const modes: string[] = pv.spec?.accessModes ?? [];
  for (const m of pvc.spec?.accessModes ?? []) if (!modes.includes(m)) return false;
  if (capacityOf(pv) < requestOf(pvc)) return false;
  if (pvc.spec?.selector && !matchesLabels(selectorFromObject(pvc.spec.selector), pv.metadata.labels)) return false;
  const ref = pv.spec?.claimRef;
  if (ref) {
    // Pre-bound to a claim: only that one.
    if (ref.name !== pvc.metadata.name || (ref.namespace ?? '') !== pvc.metadata.namespace) return false;
    if (ref.uid && ref.uid !== pvc.metadata.uid) return false;
  }
  return true;
}

export class PersistentVolumeController extends Controller {
  private readonly claims: Lister;
  private readonly volumes: Lister;
  private readonly classes: StorageClassInfo[];
  private readonly baseDir: string;

  constructor(ctx: ControllerContext, options: PersistentVolumeControllerOptions = {}) {
    super('persistentvolume-binder-controller', ctx, { component: 'persistentvolume-controller' });
    this.classes = options.storageClasses ?? DEFAULT_STORAGE_CLASSES;
    this.baseDir = options.baseDir ?? '/var/lib/actorkube/volumes';
    const pvcInf = ctx.informers.informer('persistentvolumeclaims');
    const pvInf = ctx.informers.informer('persistentvolumes');
    this.claims = pvcInf.lister;
    this.volumes = pvInf.lister;
    const claimKey = (c: KubeObject) => `claim/${c.metadata.namespace}/${c.metadata.name}`;
    pvcInf.addEventHandler({
      add: (c) => this.enqueueKey(claimKey(c)),
      update: (_o, c) => this.enqueueKey(claimKey(c)),
      delete: (c) => {
        // Its volume is released.
        const v = c.spec?.volumeName;
        if (v) this.enqueueKey(`volume/${v}`);
        for (const pv of this.volumes.list()) if (pv.spec?.claimRef?.uid === c.metadata.uid) this.enqueueKey(`volume/${pv.metadata.name}`);
      },
    });
    pvInf.addEventHandler({
      add: (v) => this.onVolume(v),
      update: (_o, v) => this.onVolume(v),
      delete: (v) => {
        const ref = v.spec?.claimRef;
        if (ref) this.enqueueKey(`claim/${ref.namespace}/${ref.name}`);
      },
    });
  }

  private onVolume(pv: KubeObject): void {
    this.enqueueKey(`volume/${pv.metadata.name}`);
    const ref = pv.spec?.claimRef;
    if (ref) this.enqueueKey(`claim/${ref.namespace}/${ref.name}`);
    else if (!pv.metadata.deletionTimestamp) {
      // A new Available volume may satisfy a waiting claim.
      for (const c of this.claims.list()) if (!c.spec?.volumeName) this.enqueueKey(`claim/${c.metadata.namespace}/${c.metadata.name}`);
    }
  }

  override async reconcile(key: string): Promise<void> {
    const slash = key.indexOf('/');
    const kind = key.slice(0, slash);
    const rest = key.slice(slash + 1);
    if (kind === 'claim') {
      const { namespace, name } = splitKey(rest);
      const pvc = this.claims.get(namespace, name);
      if (pvc && !pvc.metadata.deletionTimestamp) await this.syncClaim(pvc);
    } else {
      const pv = this.volumes.get('', rest);
      if (pv) await this.syncVolume(pv);
    }
  }

  private classNamed(name: string): StorageClassInfo | undefined {
    return this.classes.find((c) => c.name === name);
  }

  private async syncClaim(pvc: KubeObject): Promise<void> {
    const volumeName = pvc.spec?.volumeName;
    if (volumeName) {
      const pv = this.volumes.get('', volumeName);
      if (!pv) {
        if (pvc.metadata.annotations?.[BIND_COMPLETED_ANNOTATION] && pvc.status?.phase !== 'Lost') {
          await writeStatus(this.client, 'persistentvolumeclaims', pvc, { ...(pvc.status ?? {}), phase: 'Lost' });
          this.recorder.event(pvc, 'Warning', 'ClaimLost', 'Bound claim has lost its PersistentVolume. Data on the volume is lost!', CLAIM_KIND);
        }
        return;
      }
      const ref = pv.spec?.claimRef;
      if (!ref) {
        // The claim names the volume: finish the binding from the volume's side.
        await this.bind(pv, pvc);
        return;
      }
      if (ref.uid === pvc.metadata.uid || (!ref.uid && ref.name === pvc.metadata.name && ref.namespace === pvc.metadata.namespace)) {
        await this.bind(pv, pvc);
        return;
      }
      this.recorder.event(pvc, 'Warning', 'FailedBinding', `volume "${volumeName}" already bound to a different claim.`, CLAIM_KIND);
      return;
    }
    const className = claimClass(pvc, this.classes);
    const cls = this.classNamed(className);
    const wffc = cls?.volumeBindingMode === 'WaitForFirstConsumer';
    const node = pvc.metadata.annotations?.[SELECTED_NODE_ANNOTATION];
    if (wffc && !node) {
      await this.pending(pvc);
      this.recorder.event(pvc, 'Normal', 'WaitForFirstConsumer', 'waiting for first consumer to be created before binding', CLAIM_KIND);
      return;
    }
    const candidates = this.volumes
      .list()
      .filter((pv) => (pv.status?.phase ?? 'Available') === 'Available' || (pv.spec?.claimRef && !pv.spec.claimRef.uid))
      .filter((pv) => volumeMatches(pv, pvc, className))
      .sort((a, b) => {
        // Volumes pre-bound to this claim first, then the smallest that fits.
        const pa = a.spec?.claimRef ? 0 : 1;
        const pb = b.spec?.claimRef ? 0 : 1;
        return pa - pb || capacityOf(a) - capacityOf(b) || (a.metadata.name! < b.metadata.name! ? -1 : 1);
      });
    if (candidates.length) {
      await this.bind(candidates[0]!, pvc);
      return;
    }
    if (cls?.provisioner === LOCAL_DIR_PROVISIONER) {
      await this.provision(pvc, cls, node);
      return;
    }
    await this.pending(pvc);
    if (!cls) {
      this.recorder.event(pvc, 'Normal', 'FailedBinding', 'no persistent volumes available for this claim and no storage class is set', CLAIM_KIND);
    } else {
      this.recorder.event(
        pvc,
        'Normal',
        'ExternalProvisioning',
        `Waiting for a volume to be created either by the external provisioner '${cls.provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.`,
        CLAIM_KIND,
      );
    }
  }

  private async pending(pvc: KubeObject): Promise<void> {
    if (pvc.status?.phase !== 'Pending') await writeStatus(this.client, 'persistentvolumeclaims', pvc, { ...(pvc.status ?? {}), phase: 'Pending' });
  }

  private async provision(pvc: KubeObject, cls: StorageClassInfo, node: string | undefined): Promise<void> {
    const name = `pvc-${pvc.metadata.uid}`;
    const pv: KubeObject = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name, annotations: { [PROVISIONED_BY_ANNOTATION]: cls.provisioner } },
      spec: {
        capacity: { storage: pvc.spec?.resources?.requests?.storage ?? '1Gi' },
        accessModes: [...(pvc.spec?.accessModes ?? ['ReadWriteOnce'])],
        persistentVolumeReclaimPolicy: cls.reclaimPolicy ?? 'Delete',
        storageClassName: cls.name,
        volumeMode: pvc.spec?.volumeMode ?? 'Filesystem',
        hostPath: { path: `${this.baseDir}/${name}_${pvc.metadata.namespace}_${pvc.metadata.name}`, type: 'DirectoryOrCreate' },
        claimRef: { kind: 'PersistentVolumeClaim', namespace: pvc.metadata.namespace, name: pvc.metadata.name, uid: pvc.metadata.uid, apiVersion: 'v1', resourceVersion: pvc.metadata.resourceVersion },
      },
    };
    if (node) {
      pv.spec.nodeAffinity = { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] }] } };
    }
    let created: KubeObject;
    try {
      created = await this.client.create('persistentvolumes', '', pv);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      created = await this.client.get('persistentvolumes', '', name);
    }
    this.recorder.event(pvc, 'Normal', 'ProvisioningSucceeded', `Successfully provisioned volume ${name} using ${cls.provisioner}`, CLAIM_KIND);
    await this.bind(created, pvc, cls.provisioner);
  }

  /** Binds both ways: the volume's claimRef and phase, then the claim's volumeName and phase. */
  private async bind(pv: KubeObject, pvc: KubeObject, provisioner?: string): Promise<void> {
    let volume = pv;
    const ref = pv.spec?.claimRef;
    if (!ref || ref.uid !== pvc.metadata.uid) {
      const copy = clone(pv);
      copy.spec.claimRef = { kind: 'PersistentVolumeClaim', namespace: pvc.metadata.namespace, name: pvc.metadata.name, uid: pvc.metadata.uid, apiVersion: 'v1', resourceVersion: pvc.metadata.resourceVersion };
      copy.metadata.annotations = { ...(copy.metadata.annotations ?? {}), [BOUND_BY_CONTROLLER_ANNOTATION]: 'yes' };
      volume = await this.client.update('persistentvolumes', '', copy);
    }
    if (volume.status?.phase !== 'Bound') volume = await writeStatus(this.client, 'persistentvolumes', volume, { ...(volume.status ?? {}), phase: 'Bound' });
    let claim = pvc;
    const ann = pvc.metadata.annotations ?? {};
    if (pvc.spec?.volumeName !== pv.metadata.name || ann[BIND_COMPLETED_ANNOTATION] !== 'yes' || (provisioner && ann[STORAGE_PROVISIONER_ANNOTATION] !== provisioner)) {
      const copy = clone(pvc);
      copy.spec = { ...(copy.spec ?? {}), volumeName: pv.metadata.name };
      if (copy.spec.storageClassName === undefined && volume.spec?.storageClassName) copy.spec.storageClassName = volume.spec.storageClassName;
      copy.metadata.annotations = { ...ann, [BIND_COMPLETED_ANNOTATION]: 'yes' };
      if (pvc.spec?.volumeName !== pv.metadata.name) copy.metadata.annotations[BOUND_BY_CONTROLLER_ANNOTATION] = 'yes';
      if (provisioner) copy.metadata.annotations[STORAGE_PROVISIONER_ANNOTATION] = provisioner;
      claim = await this.client.update('persistentvolumeclaims', pvc.metadata.namespace!, copy);
    }
    const want = { ...(claim.status ?? {}), phase: 'Bound', accessModes: [...(volume.spec?.accessModes ?? [])], capacity: { ...(volume.spec?.capacity ?? {}) } };
    await writeStatus(this.client, 'persistentvolumeclaims', claim, want);
  }

  private async syncVolume(pv: KubeObject): Promise<void> {
    if (pv.metadata.deletionTimestamp) return;
    const ref = pv.spec?.claimRef;
    if (!ref) {
      if (pv.status?.phase !== 'Available') await writeStatus(this.client, 'persistentvolumes', pv, { ...(pv.status ?? {}), phase: 'Available' });
      return;
    }
    const claim = this.claims.get(ref.namespace ?? '', ref.name);
    if (claim && (!ref.uid || claim.metadata.uid === ref.uid)) {
      if (!ref.uid) {
        this.enqueueKey(`claim/${ref.namespace}/${ref.name}`);
        if (pv.status?.phase !== 'Available') await writeStatus(this.client, 'persistentvolumes', pv, { ...(pv.status ?? {}), phase: 'Available' });
        return;
      }
      if (claim.spec?.volumeName === pv.metadata.name && pv.status?.phase !== 'Bound') {
        await writeStatus(this.client, 'persistentvolumes', pv, { ...(pv.status ?? {}), phase: 'Bound' });
      }
      return;
    }
    if (!ref.uid) return;
    // The claim is gone: released, then reclaimed.
    let volume = pv;
    if (pv.status?.phase !== 'Released' && pv.status?.phase !== 'Failed') {
      volume = await writeStatus(this.client, 'persistentvolumes', pv, { ...(pv.status ?? {}), phase: 'Released' });
    }
    const policy = volume.spec?.persistentVolumeReclaimPolicy ?? 'Retain';
    if (policy === 'Delete') {
      await deleteIgnoringNotFound(this.client, 'persistentvolumes', '', pv.metadata.name!);
      this.recorder.event(volume, 'Normal', 'VolumeDelete', `Deleted volume ${pv.metadata.name}`, { apiVersion: 'v1', kind: 'PersistentVolume' });
    }
  }
}
