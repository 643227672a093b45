import { describe as suite, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { PersistentVolumeController, type StorageClassInfo } from '../../controllers/volume.js';
import { harness, settle, type Harness } from './helpers.js';

function claim(name: string, size = '1Gi', extra: Record<string, any> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: 'default' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size } }, volumeMode: 'Filesystem', ...extra } };
}

function volume(name: string, size: string, extra: Record<string, any> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name },
    spec: { capacity: { storage: size }, accessModes: ['ReadWriteOnce', 'ReadOnlyMany'], persistentVolumeReclaimPolicy: 'Retain', storageClassName: 'manual', volumeMode: 'Filesystem', hostPath: { path: `/data/${name}` }, ...extra },
    status: { phase: 'Available' },
  };
}

async function start(objects: KubeObject[], classes?: StorageClassInfo[]): Promise<Harness> {
  const h = await harness(objects);
  new PersistentVolumeController(h.ctx, { storageClasses: classes, baseDir: '/tmp/vols' }).start();
  await h.sync();
  await settle();
  return h;
}

suite('PersistentVolume controller', () => {
  it('binds a claim to the smallest matching Available volume', async () => {
    const h = await start([volume('big', '10Gi'), volume('small', '2Gi'), volume('tiny', '500Mi'), claim('data', '1Gi', { storageClassName: 'manual' })]);
    const pvc = h.client.peek('persistentvolumeclaims', 'default', 'data')!;
    expect(pvc.spec.volumeName).toBe('small');
    expect(pvc.metadata.annotations).toMatchObject({ 'pv.kubernetes.io/bind-completed': 'yes', 'pv.kubernetes.io/bound-by-controller': 'yes' });
    expect(pvc.status).toEqual({ phase: 'Bound', accessModes: ['ReadWriteOnce', 'ReadOnlyMany'], capacity: { storage: '2Gi' } });
    const pv = h.client.peek('persistentvolumes', '', 'small')!;
    expect(pv.spec.claimRef).toMatchObject({ kind: 'PersistentVolumeClaim', namespace: 'default', name: 'data', uid: pvc.metadata.uid });
    expect(pv.status.phase).toBe('Bound');
    expect(h.client.peek('persistentvolumes', '', 'big')!.status.phase).toBe('Available');
  });

  it('provisions a local directory volume for a claim of the default class', async () => {
    const h = await start([claim('data', '5Gi')]);
    const pvc = h.client.peek('persistentvolumeclaims', 'default', 'data')!;
    const pvName = `pvc-${pvc.metadata.uid}`;
    expect(pvc.spec.volumeName).toBe(pvName);
    expect(pvc.spec.storageClassName).toBe('standard');
    expect(pvc.status.phase).toBe('Bound');
    const pv = h.client.peek('persistentvolumes', '', pvName)!;
    expect(pv.spec).toMatchObject({
      capacity: { storage: '5Gi' },
      storageClassName: 'standard',
      persistentVolumeReclaimPolicy: 'Delete',
      hostPath: { path: `/tmp/vols/${pvName}_default_data`, type: 'DirectoryOrCreate' },
    });
    expect(pv.metadata.annotations!['pv.kubernetes.io/provisioned-by']).toBe('actorkube.io/local-dir');
    expect(h.recorder.events).toContain(`Normal ProvisioningSucceeded Successfully provisioned volume ${pvName} using actorkube.io/local-dir`);
  });

  it('releases and deletes a Delete-policy volume when its claim goes, keeps a Retain one Released', async () => {
    const h = await start([claim('a'), volume('kept', '1Gi'), claim('b', '1Gi', { storageClassName: 'manual' })]);
    const pvA = h.client.peek('persistentvolumeclaims', 'default', 'a')!.spec.volumeName;
    await h.client.delete('persistentvolumeclaims', 'default', 'a');
    await h.client.delete('persistentvolumeclaims', 'default', 'b');
    await settle();
    expect(h.client.peek('persistentvolumes', '', pvA)).toBeUndefined();
    expect(h.client.peek('persistentvolumes', '', 'kept')!.status.phase).toBe('Released');
  });

  it('WaitForFirstConsumer waits for the selected node, then pins the volume to it', async () => {
    const classes: StorageClassInfo[] = [{ name: 'local', provisioner: 'actorkube.io/local-dir', volumeBindingMode: 'WaitForFirstConsumer', isDefault: true }];
    const h = await start([claim('data')], classes);
    expect(h.client.peek('persistentvolumeclaims', 'default', 'data')!.status.phase).toBe('Pending');
    expect(h.recorder.events).toContain('Normal WaitForFirstConsumer waiting for first consumer to be created before binding');
    h.client.mutate('persistentvolumeclaims', 'default', 'data', (c) => (c.metadata.annotations = { 'volume.kubernetes.io/selected-node': 'n2' }));
    await settle();
    const pvc = h.client.peek('persistentvolumeclaims', 'default', 'data')!;
    expect(pvc.status.phase).toBe('Bound');
    const pv = h.client.peek('persistentvolumes', '', pvc.spec.volumeName)!;
    expect(pv.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0]).toEqual({ key: 'kubernetes.io/hostname', operator: 'In', values: ['n2'] });
  });

  it('a claim with no class and no volume stays Pending', async () => {
    const h = await start([claim('data', '1Gi', { storageClassName: '' })]);
    expect(h.client.peek('persistentvolumeclaims', 'default', 'data')!.status.phase).toBe('Pending');
    expect(h.recorder.events).toContain('Normal FailedBinding no persistent volumes available for this claim and no storage class is set');
    // A matching volume appears: it gets bound.
    h.client.add(volume('late', '1Gi', { storageClassName: '' }));
    await settle();
    expect(h.client.peek('persistentvolumeclaims', 'default', 'data')!.spec.volumeName).toBe('late');
  });
});
