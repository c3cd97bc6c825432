/** The three pipeline stage services, for a test broker that runs the whole pipeline. */
import PipelineDecodeService from "../../services/pipeline-decode/pipeline-decode.service";
import PipelineIngestService from "../../services/pipeline-ingest/pipeline-ingest.service";
import PipelineSinkService from "../../services/pipeline-sink/pipeline-sink.service";

export { PipelineDecodeService, PipelineIngestService, PipelineSinkService };
export const PIPELINE_SERVICES = [PipelineIngestService, PipelineDecodeService, PipelineSinkService];
